from topsmile.cli import main

raise SystemExit(main())
