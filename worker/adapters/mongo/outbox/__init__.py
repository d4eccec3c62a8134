"""The outbox relay: publishes stored events, updates read models, records that it did,
and clears the outboxes later.

Events wait in their aggregate's document (`outbox`), written in the same
single-document update as the change that raised them, so an event exists
only if its change was stored. The relay publishes them with publisher
confirms, in version order per aggregate, then projects the document into its
read model, answers the commands waiting, and records that this version's
outbox went out: an aggregate with a read model is recorded by its view
(written only after publishing), others by a small document per version in
`outbox_relayed`, inserted for a whole batch at once. Clearing the outbox, a second
write of the aggregate's document, waits for a lull; until then the record tells every
sweep not to publish it again. What fails stays in the outbox unrecorded and is
marked in `outbox_waiting` before its command is answered; a periodic pass of
any worker publishes it again (`retry_failed`), and events keep their ids. What
a crash leaves comes back with its unacknowledged command, whose store relays
it; a worker also sweeps every outbox once when it starts (`sweep`).

Relays are batched: while one batch is on its way, new documents gather for
the next. A batch takes each aggregate's latest document only and inserts the
views of new aggregates with one `insert_many`. Events this process saw
confirmed are not published again when their outbox was left uncleared, and
the sweep leaves alone what is on its way already.

The stages, each the one owner of its state: `submissions` (what is queued or on its
way), `publishing`, `recording`, `clearing`, `failures` (marks and the periodic pass)
and `sweep`; `relay` wires them behind `OutboxRelay`; `projection` holds the read
models that mirror an aggregate.
"""

from .failures import Backlog
from .projection import Follower, Projection, put_views, versions
from .relay import OutboxRelay

__all__ = ["Backlog", "Follower", "OutboxRelay", "Projection", "put_views", "versions"]
