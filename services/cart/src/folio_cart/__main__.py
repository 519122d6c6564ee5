from folio_cart.app import main

main()
