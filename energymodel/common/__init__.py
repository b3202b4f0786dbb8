"""Foundations every stage may import (and that import no stage): the one error type
(:mod:`.errors`), whole-or-nothing file writes and guarded reads (:mod:`.files`), number and
table formatting (:mod:`.formatting`), the up-front checks of a request (:mod:`.checks`) and the
deprecated-path machinery (:mod:`.deprecation`). Nothing here imports torch at import time."""
