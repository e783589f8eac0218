from newsbot.cli import main

main()
