"""How bytes travel, and nothing else: the client every request leaves through, cassettes, in-process
targets, deadlines, the request budget and 429s, interrupts, sending ahead (``--concurrency``), secrets.
"""
