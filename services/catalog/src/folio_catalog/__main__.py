from folio_catalog.app import main

main()
