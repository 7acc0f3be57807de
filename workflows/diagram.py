"""Diagrams of a flow: Mermaid text needs nothing else; SVG needs Graphviz's `dot`."""

from __future__ import annotations

import shutil

from statemachine.contrib.diagram import DotGraphMachine, MermaidGraphMachine

from workflows.engine import Flow


class GraphvizMissing(RuntimeError):
    pass


def mermaid(flow: Flow) -> str:
    return MermaidGraphMachine(flow.machine_class).get_mermaid()


def svg(flow: Flow) -> str:
    if shutil.which("dot") is None:
        raise GraphvizMissing("SVG diagrams need Graphviz: install the 'graphviz' package (it provides 'dot').")
    graph = DotGraphMachine(flow.machine_class).get_graph()
    return graph.create_svg().decode("utf-8")
