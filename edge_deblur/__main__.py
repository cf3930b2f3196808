from edge_deblur.cli import main

main()
