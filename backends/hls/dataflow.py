"""Dataflow between layers (`"dataflow": true`): the core's statements split
into processes that communicate through hls::stream FIFOs, Vitis' canonical
dataflow form.

- A process is a run of consecutive statements of one layer (emit.Item),
  widened until every array has one writer process and nobody reads an
  array before the process that writes it (an accumulator's fill and its
  matmul, or two layers writing one buffer, become one process).
- An array that one process writes and later ones read travels through one
  stream per reader (written in order after the writer's nests, read in
  order before the reader's); each process keeps its own copy of the arrays
  it uses, under the same C names, so the nests' code is unchanged.
- A port: an input read by one process is read by it; one read by several
  goes through a feed process that streams it to each; an output is written
  by the process that writes it.
- Each stream is as deep as its array, so a producer never waits for a
  consumer that reads another stream first (no deadlock), at the cost of
  the FIFO memory the QoR model counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Process:
    name: str
    layers: list[str]
    items: list[Any]  # emit.Item
    reads: set[str] = field(default_factory=set)
    writes: set[str] = field(default_factory=set)
    ins: list[str] = field(default_factory=list)  # arrays it reads from a stream or a port, in order
    outs: list[str] = field(default_factory=list)  # arrays it writes to streams or a port, in order
    feed: bool = False  # a feed process: reads one input port, streams it to its readers


@dataclass
class Stream:
    array: str
    src: str
    dst: str
    ctype: str
    depth: int

    @property
    def name(self) -> str:
        return f"s_{self.array}_{self.dst.removeprefix('sparcc_')}"


@dataclass
class Graph:
    processes: list[Process]
    streams: list[Stream]


def split(kernel: Any) -> Graph:
    """The processes and streams of a dataflow kernel (module docstring)."""
    shared = {b.name for b in kernel.buffers if b.role not in ("weight", "constant")}
    groups: list[list[Any]] = []
    for item in kernel.items:
        if groups and groups[-1][-1].layer == item.layer:
            groups[-1].append(item)
        else:
            groups.append([item])
    while True:  # one writer per array, no read before its writer: merge the ranges that break it
        merge = None
        for name in shared:
            writers = [g for g, items in enumerate(groups) if any(name in i.writes for i in items)]
            readers = [g for g, items in enumerate(groups) if any(name in i.reads for i in items)]
            if writers and (len(writers) > 1 or min(readers, default=writers[0]) < writers[0]):
                merge = (min(writers + readers), max(writers))
                if merge[0] < merge[1]:
                    break
                merge = None
        if merge is None:
            break
        lo, hi = merge
        groups[lo:hi + 1] = [[i for g in groups[lo:hi + 1] for i in g]]
    procs = []
    for k, items in enumerate(groups):
        p = Process(f"sparcc_p{k}", list(dict.fromkeys(i.layer for i in items)), items)
        for i in items:
            p.reads |= i.reads & shared
            p.writes |= i.writes & shared
        procs.append(p)
    by_name = {b.name: b for b in kernel.buffers}
    streams: list[Stream] = []
    feeds: list[Process] = []
    for b in kernel.inputs:
        readers = [p for p in procs if b.name in p.reads]
        if len(readers) > 1:
            feed = Process(f"sparcc_feed_{b.name}", [], [], set(), set(), [b.name], [], feed=True)
            feeds.append(feed)
            for p in readers:
                streams.append(Stream(b.name, feed.name, p.name, b.ctype, b.size))
                p.ins.append(b.name)
        elif readers:
            readers[0].ins.append(b.name)
    for p in procs:
        for name in sorted(p.writes):
            readers = [q for q in procs if q is not p and name in q.reads]
            if readers or by_name[name].role == "output":
                p.outs.append(name)
            for q in readers:
                streams.append(Stream(name, p.name, q.name, by_name[name].ctype, by_name[name].size))
                q.ins.append(name)
    return Graph(feeds + procs, streams)
