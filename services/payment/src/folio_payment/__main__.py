from folio_payment.app import main

main()
