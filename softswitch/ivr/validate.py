"""What `softswitch check-config` says about flows: every problem of a flow set at once, each
with its file, node id and what is wrong.

Checked: unknown target nodes and flows, nodes no path reaches, loops that never wait for the
caller, missing prompts (looked up through an injected function, so the check works with any
prompt store, and is skipped when there is none), TTS text when espeak-ng is not installed, say
nodes in a language without a sayer, and the [ivr] settings' flow names.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from softswitch.ivr.flow import Audio, Flow, FlowProblem, GotoFlowNode, Node, SayNode, SetNode
from softswitch.ivr.folder import flows_folder, load_folder
from softswitch.ivr.say import SAYERS, needed_prompts
from softswitch.ivr.settings import IvrSettings

# (language, prompt name) -> is there a recording? None: no prompt store to check against.
PromptLookup = Callable[[str, str], bool]


def library_prompts(user_dir: Path | None) -> PromptLookup:
    """The prompts the player will find: `user_dir` (`<data dir>/prompts`) first, then the set
    that ships with softswitch."""
    from softswitch.media.prompts import PromptLibrary

    return PromptLibrary(user_dir).has


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def validate_flows(
    flows: Mapping[str, Flow],
    *,
    prompts: PromptLookup | None,
    tts_available: bool,
) -> list[FlowProblem]:
    problems: list[FlowProblem] = []
    for flow in flows.values():
        problems += _targets(flow, flows)
        problems += _reachability(flow)
        problems += _instant_loops(flow)
        problems += _speech(flow, prompts, tts_available)
    return sorted(problems)


def validate_settings(
    settings: IvrSettings, flows: Mapping[str, Flow], source: str
) -> list[FlowProblem]:
    """The [ivr] section names flows that exist, and entry points (`flow#node`) they declare."""
    problems = [
        FlowProblem(source, "", f"ivr.{key}: no flow {name!r} in the flows folder")
        for key, name in settings.flow_names.items()
        if name not in flows
    ]
    for number, target in settings.numbers.items():
        name, _, node = target.partition("#")
        if node and name in flows and node not in flows[name].entry_points:
            problems.append(
                FlowProblem(
                    source, "", f"ivr.numbers.{number}: {node!r} is not an entry point of {name}"
                )
            )
    return problems


def _targets(flow: Flow, flows: Mapping[str, Flow]) -> Iterable[FlowProblem]:
    if flow.start not in flow.nodes:
        yield FlowProblem(flow.file, "", f"start: no node {flow.start!r}")
    for entry in flow.entry_points:
        if entry not in flow.nodes:
            yield FlowProblem(flow.file, "", f"entry_points: no node {entry!r}")
    for node in flow.nodes.values():
        for key, target in node.targets():
            if target not in flow.nodes:
                yield FlowProblem(flow.file, node.id, f"{key}: no node {target!r}")
        if isinstance(node, GotoFlowNode):
            other = flows.get(node.flow)
            if other is None:
                yield FlowProblem(flow.file, node.id, f"flow: no flow {node.flow!r}")
            elif node.node is not None and node.node not in (other.start, *other.entry_points):
                yield FlowProblem(
                    flow.file,
                    node.id,
                    f"node: {node.node!r} is not an entry point of flow {other.name!r}",
                )


def _reachability(flow: Flow) -> Iterable[FlowProblem]:
    seen: set[str] = set()
    todo = [n for n in (flow.start, *flow.entry_points) if n in flow.nodes]
    while todo:
        node_id = todo.pop()
        if node_id in seen:
            continue
        seen.add(node_id)
        todo += [t for _, t in flow.nodes[node_id].targets() if t in flow.nodes]
    for node_id in flow.nodes:
        if node_id not in seen:
            yield FlowProblem(flow.file, node_id, "unreachable from start and entry points")


def _instant_loops(flow: Flow) -> Iterable[FlowProblem]:
    """A cycle of set and branch nodes would spin without ever waiting for the caller."""
    instant = {
        i: n for i, n in flow.nodes.items() if not n.waits and not isinstance(n, GotoFlowNode)
    }
    done: set[str] = set()
    for first in instant:
        path: list[str] = []
        on_path: set[str] = set()
        stack = [(first, iter(_instant_targets(instant[first], instant)))]
        path.append(first)
        on_path.add(first)
        while stack:
            node_id, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                on_path.discard(node_id)
                done.add(node_id)
                continue
            if child in on_path:
                cycle = [*path[path.index(child) :], child]
                if child == min(cycle[:-1]):  # report each cycle once
                    yield FlowProblem(
                        flow.file,
                        child,
                        "loops without waiting for the caller: " + " -> ".join(cycle),
                    )
                continue
            if child in done:
                continue
            stack.append((child, iter(_instant_targets(instant[child], instant))))
            path.append(child)
            on_path.add(child)


def _instant_targets(node: Node, instant: Mapping[str, Node]) -> list[str]:
    return [t for _, t in node.targets() if t in instant]


def _languages(flow: Flow) -> list[str]:
    """The flow's language and any a set node switches to by name."""
    languages = [flow.language]
    for node in flow.nodes.values():
        if isinstance(node, SetNode) and "language" in node.values:
            literal = node.values["language"].literal
            if literal and literal not in languages:
                languages.append(literal)
    return languages


def _speech(flow: Flow, prompts: PromptLookup | None, tts_available: bool) -> Iterable[FlowProblem]:
    languages = _languages(flow)
    for node in flow.nodes.values():
        for audio in node.audio():
            yield from _audio(flow, node, audio, languages, prompts, tts_available)
        if isinstance(node, SayNode):
            for language in languages:
                if language not in SAYERS:
                    known = ", ".join(SAYERS)
                    yield FlowProblem(
                        flow.file, node.id, f"say: no sayer for language {language!r} ({known})"
                    )
                elif prompts is not None:
                    needed = needed_prompts(node.what, language)
                    missing = [n for n in needed if not prompts(language, n)]
                    if missing:
                        yield FlowProblem(
                            flow.file,
                            node.id,
                            f"say {node.what.value}: {len(missing)} prompts missing for language "
                            f"{language!r}, first {missing[0]!r}",
                        )


def _audio(
    flow: Flow,
    node: Node,
    audio: Audio,
    languages: list[str],
    prompts: PromptLookup | None,
    tts_available: bool,
) -> Iterable[FlowProblem]:
    if not audio:
        return
    for language in languages:
        missing = [p for p in audio.prompts if prompts is not None and not prompts(language, p)]
        if missing and audio.text is None:
            for name in missing:
                yield FlowProblem(
                    flow.file, node.id, f"missing prompt {name!r} for language {language!r}"
                )
        elif audio.text is not None and (missing or not audio.prompts) and not tts_available:
            because = f"prompt {missing[0]!r} is missing" if missing else "it has no prompts"
            yield FlowProblem(
                flow.file,
                node.id,
                f"text needs espeak-ng (not installed) because {because} for language {language!r}",
            )


def check_folder(
    settings: IvrSettings, source: str, *, prompts: PromptLookup | None, tts_available: bool
) -> tuple[dict[str, Flow], list[FlowProblem]]:
    """Load the configured flows and list every problem of the set and of the settings."""
    flows, problems = load_folder(flows_folder(settings))
    problems += validate_flows(flows, prompts=prompts, tts_available=tts_available)
    problems += validate_settings(settings, flows, source)
    return flows, sorted(problems)


def check_ivr(
    settings: IvrSettings, source: str, prompts_dir: Path
) -> tuple[list[str], list[FlowProblem]]:
    """`softswitch check-config`'s IVR part: lines to print, and the problems (exit 2 if any)."""
    tts = espeak_available()
    flows, problems = check_folder(
        settings, source, prompts=library_prompts(prompts_dir), tts_available=tts
    )
    lines = [
        f"ivr: {len(flows)} flows from {flows_folder(settings)}, time zone {settings.time_zone}, "
        f"prompts from {prompts_dir} and the shipped set, "
        f"espeak-ng {'found' if tts else 'not installed'}"
    ]
    lines += [f"  {number} -> {flow}" for number, flow in settings.numbers.items()]
    return lines, problems
