#!/bin/sh
# serve: migrate, then run the server; worker: run a procrastinate worker; anything else: manage.py.
set -e
case "$1" in
  serve)
    python manage.py migrate --noinput
    exec python manage.py serve --host "$UAI_HOST" --port "$UAI_PORT"
    ;;
  worker)
    exec python manage.py procrastinate worker
    ;;
  *)
    exec python manage.py "$@"
    ;;
esac
