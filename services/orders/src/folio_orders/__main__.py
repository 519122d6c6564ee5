from folio_orders.app import main

main()
