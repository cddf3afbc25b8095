#!/bin/sh
# serve: migrate, then run the server; worker [QUEUES]: run a procrastinate worker (of those
# queues only, comma-separated); anything else: manage.py.
set -e
case "$1" in
  serve)
    python manage.py migrate --noinput
    exec python manage.py serve --host "$UAI_HOST" --port "$UAI_PORT"
    ;;
  worker)  # worker [QUEUES]: e.g. "worker runs" for a worker of long runs only
    if [ -n "$2" ]; then exec python manage.py procrastinate worker --queues "$2"; fi
    exec python manage.py procrastinate worker
    ;;
  *)
    exec python manage.py "$@"
    ;;
esac
