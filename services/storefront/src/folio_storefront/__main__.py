from folio_storefront.app import main

main()
