"""How gunicorn serves Dojo: the Dockerfile, docker-compose and the benches run it.

Three processes of eight threads each (``gthread``). With sync workers a
request waits for one of three processes, behind whatever came before it: in
a class burst (16 clients uploading as fast as answered) a leaderboard load
queued behind about a dozen uploads (p95 0.7 to 3.9 s on a 2-core host). With
threads every request is taken at once; uploads take a lane, one at a time per
process (``api/uploads.py``), so a page shares its process with at most one
upload and stays short while a room uploads. Django is thread-safe
(``make run``'s runserver is threaded too); each thread keeps its own
database connection (``DJANGO_CONN_MAX_AGE``): 24 at most from the web.
Options given on the command line (``--workers``, ``--threads``) win.

Each connection is closed after its answer (``keepalive = 0``): with gthread's
keep-alive, 175 of 11,600 requests under ``bench/abuse.py`` ended in a
connection reset (a kept connection closed by the server as the client sent
on it), none with it off; a browser on the room's network pays one local TCP
handshake a request.
"""

workers = 3
worker_class = "gthread"
threads = 8
keepalive = 0
