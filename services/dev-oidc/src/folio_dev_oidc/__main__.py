from folio_dev_oidc.app import main

main()
