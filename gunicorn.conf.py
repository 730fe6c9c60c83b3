"""Production serving: ``gunicorn app:app`` reads this file from the project directory.

Workers default to gunicorn's rule of thumb, 2 per CPU core + 1 (the work is
mostly waiting on PostgreSQL); ``WEB_CONCURRENCY`` overrides it and ``BIND``
sets the address (both read by config.py, like every setting). Each worker has
its own connection pool (5 + 10 overflow), so size PostgreSQL's max_connections
for workers × 15 per machine. `make run` stays on Flask's development server.
"""

import multiprocessing

import flask

from config import Config, get_config
from crm import check_required_settings
from crm.db.server import StartupError

# Refuse here, in gunicorn's master process: a worker whose app cannot start is
# otherwise restarted for ever.
_settings = flask.Config(".")
_settings.from_object(get_config())
try:
    check_required_settings(_settings)
except StartupError as exc:
    raise SystemExit(f"error: {exc}") from None

bind = Config.BIND
workers = Config.WEB_CONCURRENCY or multiprocessing.cpu_count() * 2 + 1
worker_class = "sync"
# A 100,000-row CSV import takes about 15 s here; leave room for slower disks.
timeout = 120
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (staggered), so a slow leak cannot grow for ever.
max_requests = 2000
max_requests_jitter = 200
# The app writes one structured line per request (crm/web/request_log.py).
accesslog = None
errorlog = "-"
loglevel = "info"
# Heartbeat files in memory: a container's disk can stall the workers' check-ins.
worker_tmp_dir = "/dev/shm"
# Never create the app before forking: each worker opens its own connections.
preload_app = False
