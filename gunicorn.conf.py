"""How gunicorn serves Dojo: the Dockerfile, docker-compose and the benches run it.

Three processes of sixteen threads each (``gthread``). With sync workers a
request waits for one of three processes, behind whatever came before it: in
a class burst (16 clients uploading as fast as answered) a leaderboard load
queued behind about a dozen uploads (p95 0.7 to 3.9 s on a 2-core host). With
threads every request is taken by a thread; uploads take a lane, two at a time
per process (``web/lane.py``), so a page shares its process with at most two
uploads. Uploads waiting for the lane hold their threads, so a process needs
more threads than the uploads it may be sent at once: with 8, a process that
16 clients had sent 8 uploads queued a page behind them in gthread's own
queue (leaderboard p95 297 to 423 ms in that burst; 53 to 99 ms with 16).
Django is thread-safe (``make run``'s runserver is threaded too); each thread
keeps its own database connection (``DJANGO_CONN_MAX_AGE``): 48 at most from
the web, so compose gives PostgreSQL 200. Options given on the command line
(``--workers``, ``--threads``) win.

Each connection is closed after its answer (``keepalive = 0``): with gthread's
keep-alive, 175 of 11,600 requests under ``bench/abuse.py`` ended in a
connection reset (a kept connection closed by the server as the client sent
on it), none with it off; a browser on the room's network pays one local TCP
handshake a request.
"""

workers = 3
worker_class = "gthread"
threads = 16
keepalive = 0
