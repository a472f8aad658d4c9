"""The bot process: the chat adapters, the web side, and the pipeline they share.

numpy's OpenBLAS starts a thread per core at import, and after each matrix
product (the open-set regions' projection of every photo) that thread spins
waiting for more work: at one user it burned 0.8 of a core, a third of the
bot's CPU (docs/benchmarks.md, issue 23). The bot's matrix products are small,
and one thread does them as fast. Set before anything imports numpy; an
admin's own value wins. The allocator is told to keep few arenas before any
thread starts (`bot.memory`).
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

from bot.memory import limit_arenas  # after the setting above, which must precede numpy

limit_arenas()
