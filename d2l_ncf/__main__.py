import sys

try:
    from .cli import main, stopped
except KeyboardInterrupt:  # Ctrl-C while the command line loads
    import signal
    print('d2l-ncf: stopped by SIGINT', file=sys.stderr)
    sys.exit(128 + signal.SIGINT)

sys.exit(main())
