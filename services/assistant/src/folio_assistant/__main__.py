from folio_assistant.app import main

main()
