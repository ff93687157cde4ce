"""Reading a folder of flow files: the configured one, or the flows that ship as package data
(found with importlib.resources, so they are there installed, in a wheel and frozen)."""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable

from softswitch.ivr.flow import Flow, FlowError, FlowProblem, load_flow_text
from softswitch.ivr.settings import IvrSettings

MAX_FLOW_FILES = 1000


def builtin_flows() -> Traversable:
    """The flows that ship with softswitch (the demo on 500), as package data."""
    return resources.files("softswitch.ivr") / "flows"


def flows_folder(settings: IvrSettings) -> Traversable:
    return settings.flows_dir if settings.flows_dir is not None else builtin_flows()


def load_folder(folder: Traversable) -> tuple[dict[str, Flow], list[FlowProblem]]:
    """Every `*.toml` in `folder`, one flow each, named by the file's stem."""
    where = str(folder)
    if not folder.is_dir():
        return {}, [FlowProblem(where, "", "flows folder does not exist")]
    flows: dict[str, Flow] = {}
    problems: list[FlowProblem] = []
    files = sorted((f for f in folder.iterdir() if f.name.endswith(".toml")), key=lambda f: f.name)
    if len(files) > MAX_FLOW_FILES:
        return {}, [FlowProblem(where, "", f"more than {MAX_FLOW_FILES} flow files")]
    for file in files:
        name = file.name.removesuffix(".toml")
        try:
            flows[name] = load_flow_text(file.read_bytes(), f"{where}/{file.name}", name)
        except FlowError as exc:
            problems.append(FlowProblem(exc.file, exc.node, exc.problem))
        except OSError as exc:
            problems.append(FlowProblem(f"{where}/{file.name}", "", f"cannot read: {exc}"))
    if not files:
        problems.append(FlowProblem(where, "", "no flow files (*.toml)"))
    return flows, problems
