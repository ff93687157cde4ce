"""A headless pjsua2 softphone driven by JSON lines on stdin, reporting JSON-line events on stdout.

Run as its own process (one pjsua2 Endpoint per process, at most 4 calls): the tests talk to it
through tests/peers/pjsua.py. Everything binds to 127.0.0.1 so that no SDP or SIP names another
address. pjsua2 logs to a file (--log) or stderr; stdout carries only events.

Commands (one JSON object per line, key "cmd"):
  register   server, port, user, password, transport (udp|tcp|tls), expires, srtp (off|optional|
             mandatory; SDES keys, and SRTP only over a TLS hop) -> registered|reg_failed
  listen     user, srtp: an account on the TLS transport that registers nowhere and takes the
             incoming calls (a carrier's side of a TLS trunk; start with --tls-cert/--tls-key
             and --tls-port) -> listening
  unregister account -> unregistered
  call       uri, account (default: the last registered, else a local one) -> call_created
  answer     call, code (default 200)
  auto_answer on (bool): from now on an incoming INVITE whose Call-Info carries answer-after=0
             is answered 200 at once, as desk phones do (pjsua2 itself reads no such header:
             this peer reads it from the INVITE) -> auto_answer; auto_answering (call) just
             before each such 200 is sent
  hangup     call, code (optional)
  play       call, path, loop (default true): into the call once its media is active
  record     call, path, seconds (optional): what the peer hears, from media active until that
             many seconds have been recorded, stop_record or hang-up
  stop_record call -> recorded (also sent when a timed recording ends or the call does)
  dtmf       call, digits: RFC 4733 telephone-events on an answered call -> dtmf_sent
  codecs     only: codec ids to offer and accept, most preferred first ("PCMA/8000",
             "G722/16000"); every other audio codec is disabled -> codecs (the ids now on)
  ptime      codec, ms: packets of that many ms (frames per packet) for the codec id -> ptime
  hold       call: a re-INVITE with a=sendonly (pjsua2's setHold) -> media_state local_hold
  unhold     call: a re-INVITE that resumes the call -> media_state active
  quit
Events (key "event"; "at" is the wall clock when it happened): ready (with udp_port, tcp_port,
tls_port), listening, registered, reg_failed,
unregistered, call_created, incoming_call (with the INVITE's Call-Info and Alert-Info, "" when
absent), call_state, media_active (with the codec the
stream uses and the local RTP address, "127.0.0.1:4000"), media_state (every change of
the audio's status: active, local_hold, remote_hold, none, error), recorded, dtmf_sent, error.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import select
import sys
import time
from dataclasses import dataclass
from typing import Any

import pjsua2 as pj

LOCAL = "127.0.0.1"
PUMP_MS = 10
FINALIZE_TIMEOUT_S = 2.0
# On quit the peer hangs up what is still up, as a phone switched off from its menu does: the
# switch hears a BYE instead of waiting out its shutdown timeout on a dialog nobody answers.
HANGUP_ON_QUIT_S = 1.0
MEDIA_STATUS = {
    pj.PJSUA_CALL_MEDIA_NONE: "none",
    pj.PJSUA_CALL_MEDIA_ACTIVE: "active",
    pj.PJSUA_CALL_MEDIA_LOCAL_HOLD: "local_hold",
    pj.PJSUA_CALL_MEDIA_REMOTE_HOLD: "remote_hold",
    pj.PJSUA_CALL_MEDIA_ERROR: "error",
}

_event_fd = -1


def emit(event: str, **fields: Any) -> None:
    """Write one event line to the saved stdout (fd 1 now points at stderr, for pjsua's logs).

    `at` is the wall clock when the peer saw it happen: tests order it against SIPp's trace.
    """
    line = json.dumps({"event": event, "at": time.time(), **fields}) + "\n"
    os.write(_event_fd, line.encode())


@dataclass
class CallSlot:
    """What the peer tracks per call besides pjsua's object: deferred media wishes and closure."""

    call: PeerCall
    media_active: bool = False
    play_path: str | None = None
    play_loop: bool = True
    record_path: str | None = None
    record_seconds: float | None = None
    record_until: float | None = None
    finalizing_until: float | None = None
    finalizing_path: str | None = None  # a closed recorder's WAV, until its header is written
    rx_packets: int = -1
    rx_bytes: int = -1
    player: pj.AudioMediaPlayer | None = None
    recorder: pj.AudioMediaRecorder | None = None
    disconnected: bool = False
    audio_index: int = -1
    media_status: str = ""  # the last media_state reported
    audio_port: int = -1  # the conference port the player and recorder are connected to


class Peer:
    """Holds the endpoint, accounts and calls; all callbacks land here on the main thread."""

    def __init__(self) -> None:
        self.ep = pj.Endpoint()
        self.accounts: dict[int, PeerAccount] = {}
        self.default_account: PeerAccount | None = None
        self.local_account: PeerAccount | None = None
        self.calls: dict[int, CallSlot] = {}
        self.next_call = 1
        self.next_account = 1
        self.auto_answer = False  # answer INVITEs with Call-Info answer-after=0 (cmd auto_answer)
        self.udp_tid = -1
        self.tcp_tid = -1
        self.tls_tid = -1
        self.quitting = False

    def start(
        self,
        log_path: str | None,
        log_level: int,
        tls_ca: str | None = None,
        tls_server: tuple[str, str, int] | None = None,
    ) -> None:
        self.ep.libCreate()
        cfg = pj.EpConfig()
        cfg.uaConfig.threadCnt = 0
        cfg.uaConfig.mainThreadOnly = True
        cfg.uaConfig.maxCalls = 4
        cfg.logConfig.consoleLevel = 0
        cfg.logConfig.level = log_level
        if log_path:
            cfg.logConfig.filename = log_path
        cfg.medConfig.noVad = True
        cfg.medConfig.ecTailLen = 0
        self.ep.libInit(cfg)
        tcfg = pj.TransportConfig()
        tcfg.boundAddress = LOCAL
        tcfg.publicAddress = LOCAL
        tcfg.port = 0
        self.udp_tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
        self.tcp_tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_TCP, tcfg)
        tls_cfg = pj.TransportConfig()
        tls_cfg.boundAddress = LOCAL
        tls_cfg.publicAddress = LOCAL
        tls_cfg.port = 0
        if tls_ca:
            # A phone that checks the switch's certificate against the lab CA (and its name).
            tls_cfg.tlsConfig.CaListFile = tls_ca
            tls_cfg.tlsConfig.verifyServer = True
        if tls_server is not None:
            # A carrier's TLS port: its certificate for the switch's connections to it.
            tls_cfg.tlsConfig.certFile, tls_cfg.tlsConfig.privKeyFile, tls_cfg.port = tls_server
        self.tls_tid = self.ep.transportCreate(pj.PJSIP_TRANSPORT_TLS, tls_cfg)
        self.ep.libStart()
        self.ep.audDevManager().setNullDev()
        # A sane phone prefers G.711; the others stay offered so the far end must choose.
        self.ep.codecSetPriority("PCMU/8000/1", 255)
        self.ep.codecSetPriority("PCMA/8000/1", 254)
        udp_port = self.ep.transportGetInfo(self.udp_tid).localName.split(":")[-1]
        tcp_port = self.ep.transportGetInfo(self.tcp_tid).localName.split(":")[-1]
        acc_cfg = self._account_config(f"sip:peer@{LOCAL}:{udp_port}", self.udp_tid)
        self.local_account = PeerAccount(self, 0)
        self.local_account.create(acc_cfg, True)
        self.accounts[0] = self.local_account
        tls_port = self.ep.transportGetInfo(self.tls_tid).localName.split(":")[-1]
        emit(
            "ready",
            udp_port=int(udp_port),
            tcp_port=int(tcp_port),
            tls_port=int(tls_port),
            pid=os.getpid(),
        )

    def _account_config(self, id_uri: str, transport_id: int) -> pj.AccountConfig:
        acc_cfg = pj.AccountConfig()
        acc_cfg.idUri = id_uri
        acc_cfg.sipConfig.transportId = transport_id
        acc_cfg.mediaConfig.transportConfig.boundAddress = LOCAL
        acc_cfg.mediaConfig.transportConfig.publicAddress = LOCAL
        acc_cfg.natConfig.sdpNatRewriteUse = 0
        acc_cfg.natConfig.viaRewriteUse = 0
        acc_cfg.natConfig.contactRewriteUse = 0
        return acc_cfg

    # ---- commands -------------------------------------------------------------------------

    def handle(self, cmd: dict[str, Any]) -> None:
        name = cmd.get("cmd")
        handler = getattr(self, f"cmd_{name}", None)
        if handler is None:
            emit("error", cmd=name, message="unknown command")
            return
        try:
            handler(cmd)
        except pj.Error as exc:
            emit("error", cmd=name, message=exc.info())
        except (KeyError, ValueError) as exc:
            emit("error", cmd=name, message=repr(exc))

    def cmd_register(self, cmd: dict[str, Any]) -> None:
        transport = cmd.get("transport", "udp")
        suffix = f";transport={transport}" if transport in ("tcp", "tls") else ""
        server = f"{cmd['server']}:{cmd['port']}"
        tid = {"tcp": self.tcp_tid, "tls": self.tls_tid}.get(transport, self.udp_tid)
        acc_cfg = self._account_config(f"sip:{cmd['user']}@{server}", tid)
        acc_cfg.regConfig.registrarUri = f"sip:{server}{suffix}"
        acc_cfg.regConfig.timeoutSec = int(cmd.get("expires", 300))
        _use_srtp(acc_cfg, cmd.get("srtp", "off"))
        acc_cfg.regConfig.retryIntervalSec = 0
        acc_cfg.sipConfig.authCreds.append(
            pj.AuthCredInfo("digest", "*", cmd["user"], 0, cmd["password"])
        )
        acc_id = self.next_account
        self.next_account += 1
        account = PeerAccount(self, acc_id)
        account.create(acc_cfg, True)
        self.accounts[acc_id] = account
        self.default_account = account

    def cmd_listen(self, cmd: dict[str, Any]) -> None:
        port = self.ep.transportGetInfo(self.tls_tid).localName.split(":")[-1]
        acc_cfg = self._account_config(f"sip:{cmd['user']}@{LOCAL}", pj.PJSUA_INVALID_ID)
        _use_srtp(acc_cfg, cmd.get("srtp", "off"))
        acc_id = self.next_account
        self.next_account += 1
        account = PeerAccount(self, acc_id)
        account.create(acc_cfg, True)  # the default account: it takes the incoming calls
        self.accounts[acc_id] = account
        emit("listening", account=acc_id, port=int(port))

    def cmd_unregister(self, cmd: dict[str, Any]) -> None:
        self.accounts[int(cmd["account"])].setRegistration(False)

    def cmd_call(self, cmd: dict[str, Any]) -> None:
        fallback = self.default_account or self.local_account
        account = self.accounts[int(cmd["account"])] if "account" in cmd else fallback
        assert account is not None
        slot = self._new_call(account, pj.PJSUA_INVALID_ID)
        prm = pj.CallOpParam(True)
        slot.call.makeCall(cmd["uri"], prm)
        emit("call_created", call=slot.call.slot_id, uri=cmd["uri"], account=account.acc_id)

    def cmd_answer(self, cmd: dict[str, Any]) -> None:
        prm = pj.CallOpParam()
        prm.statusCode = int(cmd.get("code", 200))
        self.calls[int(cmd["call"])].call.answer(prm)

    def cmd_auto_answer(self, cmd: dict[str, Any]) -> None:
        self.auto_answer = bool(cmd.get("on", True))
        emit("auto_answer", on=self.auto_answer)

    def cmd_hangup(self, cmd: dict[str, Any]) -> None:
        prm = pj.CallOpParam()
        if "code" in cmd:
            prm.statusCode = int(cmd["code"])
        self.calls[int(cmd["call"])].call.hangup(prm)

    def cmd_play(self, cmd: dict[str, Any]) -> None:
        slot = self.calls[int(cmd["call"])]
        slot.play_path = cmd["path"]
        slot.play_loop = bool(cmd.get("loop", True))
        self._apply_media(slot)

    def cmd_record(self, cmd: dict[str, Any]) -> None:
        slot = self.calls[int(cmd["call"])]
        slot.record_path = cmd["path"]
        slot.record_seconds = cmd.get("seconds")
        self._apply_media(slot)

    def cmd_stop_record(self, cmd: dict[str, Any]) -> None:
        self._close_recorder(self.calls[int(cmd["call"])])

    def cmd_dtmf(self, cmd: dict[str, Any]) -> None:
        """Send digits: RFC 4733 (pjsua2's default) or SIP INFO (method "info")."""
        call = self.calls[int(cmd["call"])].call
        if cmd.get("method", "rfc4733") == "rfc4733":
            call.dialDtmf(str(cmd["digits"]))
            emit("dtmf_sent", call=int(cmd["call"]), digits=str(cmd["digits"]))
            return
        for digit in cmd["digits"]:
            prm = pj.CallSendDtmfParam()
            prm.method = pj.PJSUA_DTMF_METHOD_SIP_INFO
            prm.digits = digit
            prm.duration = int(cmd.get("duration_ms", 160))
            call.sendDtmf(prm)
        emit("dtmf_sent", call=int(cmd["call"]), digits=str(cmd["digits"]))

    def cmd_codecs(self, cmd: dict[str, Any]) -> None:
        wanted = [str(c).lower() for c in cmd["only"]]
        enabled = []
        for info in self.ep.codecEnum2():
            codec_id = info.codecId
            rank = next((i for i, w in enumerate(wanted) if codec_id.lower().startswith(w)), None)
            self.ep.codecSetPriority(codec_id, 0 if rank is None else 250 - rank)
            if rank is not None:
                enabled.append(codec_id)
        emit("codecs", enabled=enabled)

    def cmd_ptime(self, cmd: dict[str, Any]) -> None:
        codec_id = str(cmd["codec"])
        param = self.ep.codecGetParam(codec_id)
        param.setting.frmPerPkt = max(1, int(cmd["ms"]) // param.info.frameLen)
        self.ep.codecSetParam(codec_id, param)
        frames = self.ep.codecGetParam(codec_id).setting.frmPerPkt
        emit("ptime", codec=codec_id, ms=frames * param.info.frameLen)

    def cmd_hold(self, cmd: dict[str, Any]) -> None:
        self.calls[int(cmd["call"])].call.setHold(pj.CallOpParam(True))

    def cmd_unhold(self, cmd: dict[str, Any]) -> None:
        prm = pj.CallOpParam(True)
        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
        self.calls[int(cmd["call"])].call.reinvite(prm)

    def cmd_xfer(self, cmd: dict[str, Any]) -> None:
        """Blind transfer: REFER with Refer-To `dest` in the call's dialog (RFC 3515)."""
        self.calls[int(cmd["call"])].call.xfer(cmd["dest"], pj.CallOpParam(True))
        emit("xfer_sent", call=int(cmd["call"]), dest=cmd["dest"])

    def cmd_xfer_replaces(self, cmd: dict[str, Any]) -> None:
        """Attended transfer: REFER on `call` naming the dialog of `other` (RFC 3891)."""
        other = self.calls[int(cmd["other"])].call
        self.calls[int(cmd["call"])].call.xferReplaces(other, pj.CallOpParam(True))
        emit("xfer_sent", call=int(cmd["call"]), other=int(cmd["other"]))

    def cmd_quit(self, cmd: dict[str, Any]) -> None:
        self.quitting = True

    # ---- calls and media --------------------------------------------------------------------

    def _new_call(self, account: PeerAccount, call_id: int) -> CallSlot:
        slot_id = self.next_call
        self.next_call += 1
        call = PeerCall(self, account, slot_id, call_id)
        slot = CallSlot(call)
        self.calls[slot_id] = slot
        return slot

    def on_media(self, slot: CallSlot) -> None:
        info = slot.call.getInfo()
        for media in info.media:
            if media.type == pj.PJMEDIA_TYPE_AUDIO:
                status = MEDIA_STATUS.get(media.status, str(media.status))
                if status != slot.media_status:
                    slot.media_status = status
                    emit("media_state", call=slot.call.slot_id, status=status)
                break
        for i, media in enumerate(info.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                if not slot.media_active:
                    slot.media_active = True
                    slot.audio_index = i
                    codec = slot.call.getStreamInfo(i).codecName
                    local_rtp = slot.call.getMedTransportInfo(i).localRtpName
                    emit("media_active", call=slot.call.slot_id, codec=codec, local_rtp=local_rtp)
                self._apply_media(slot)
                return

    def _apply_media(self, slot: CallSlot) -> None:
        if not slot.media_active or slot.disconnected:
            return
        audio = slot.call.getAudioMedia(slot.audio_index)
        port = audio.getPortId()
        if port != slot.audio_port:
            # A re-INVITE (hold, resume) can give the call a new conference port: what was
            # connected to the old one hears and sends nothing until connected again.
            slot.audio_port = port
            if slot.player is not None:
                slot.player.startTransmit(audio)
            if slot.recorder is not None:
                audio.startTransmit(slot.recorder)
        if slot.play_path and slot.player is None:
            slot.player = pj.AudioMediaPlayer()
            options = 0 if slot.play_loop else pj.PJMEDIA_FILE_NO_LOOP
            slot.player.createPlayer(slot.play_path, options)
            slot.player.startTransmit(audio)
        if slot.record_path and slot.recorder is None:
            slot.recorder = pj.AudioMediaRecorder()
            slot.recorder.createRecorder(slot.record_path)
            audio.startTransmit(slot.recorder)
            if slot.record_seconds is not None:
                slot.record_until = time.monotonic() + float(slot.record_seconds)

    def _close_recorder(self, slot: CallSlot) -> None:
        if slot.recorder is not None:
            # Destroying the recorder is what closes its WAV; SWIG's wrapper sits in a reference
            # cycle, so only a collection destroys it now. The conference bridge's clock thread
            # removes the port and writes the header later: `recorded` waits for that.
            slot.rx_packets, slot.rx_bytes = self._rx_counts(slot)
            slot.recorder = None
            gc.collect()
            slot.record_until = None
            # The wish is done: a later media update (re-INVITE) must not record it again.
            slot.finalizing_path, slot.record_path = slot.record_path, None
            slot.finalizing_until = time.monotonic() + FINALIZE_TIMEOUT_S

    def _check_finalized(self, slot: CallSlot, now: float) -> None:
        path = slot.finalizing_path
        assert path is not None and slot.finalizing_until is not None
        if wav_complete(path):
            slot.finalizing_until = None
            emit(
                "recorded",
                call=slot.call.slot_id,
                path=path,
                rx_packets=slot.rx_packets,
                rx_bytes=slot.rx_bytes,
            )
        elif now > slot.finalizing_until:
            slot.finalizing_until = None
            emit("error", cmd="record", message=f"{path} was never closed")

    @property
    def finalizing(self) -> bool:
        return any(slot.finalizing_until is not None for slot in self.calls.values())

    def _rx_counts(self, slot: CallSlot) -> tuple[int, int]:
        """RTP packets and payload bytes received on the call so far (-1, -1: no stream)."""
        try:
            stat = slot.call.getStreamStat(slot.audio_index)
        except pj.Error:
            return -1, -1
        return int(stat.rtcp.rxStat.pkt), int(stat.rtcp.rxStat.bytes)

    def check_timers(self, now: float) -> None:
        for slot in self.calls.values():
            if slot.record_until is not None and now >= slot.record_until:
                self._close_recorder(slot)
            if slot.finalizing_until is not None:
                self._check_finalized(slot, now)

    def hang_up_all(self, timeout_s: float) -> None:
        """BYE (or a final answer) on every call still up; pump until they end or time runs out."""
        for slot in self.calls.values():
            if not slot.disconnected:
                with contextlib.suppress(pj.Error):
                    slot.call.hangup(pj.CallOpParam())
        deadline = time.monotonic() + timeout_s
        while (
            any(not slot.disconnected for slot in self.calls.values())
            and time.monotonic() < deadline
        ):
            self.ep.libHandleEvents(PUMP_MS)

    def on_disconnected(self, slot: CallSlot) -> None:
        slot.disconnected = True
        self._close_recorder(slot)
        slot.player = None


class PeerAccount(pj.Account):  # type: ignore[misc]
    def __init__(self, peer: Peer, acc_id: int) -> None:
        super().__init__()
        self.peer = peer
        self.acc_id = acc_id

    def onRegState(self, prm: pj.OnRegStateParam) -> None:
        info = self.getInfo()
        if prm.code // 100 == 2:
            name = "registered" if info.regIsActive else "unregistered"
        else:
            name = "reg_failed"
        emit(
            name, account=self.acc_id, code=prm.code, reason=prm.reason, expires=info.regExpiresSec
        )

    def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
        slot = self.peer._new_call(self, prm.callId)
        info = slot.call.getInfo()
        message = prm.rdata.wholeMsg
        call_info = _header(message, "Call-Info")
        emit(
            "incoming_call",
            call=slot.call.slot_id,
            account=self.acc_id,
            remote=info.remoteUri,
            local=info.localUri,
            call_id=info.callIdString,
            call_info=call_info,
            alert_info=_header(message, "Alert-Info"),
        )
        reply = pj.CallOpParam()
        # What Polycom, Yealink and Snom do with an intercom INVITE: off-hook at once.
        auto = self.peer.auto_answer and "answer-after=0" in call_info.replace(" ", "").lower()
        reply.statusCode = 200 if auto else 180
        if auto:  # before the 200 leaves: a test can order what the answer caused after it
            emit("auto_answering", call=slot.call.slot_id)
        slot.call.answer(reply)


def _header(message: str, name: str) -> str:
    """A header's value in a raw SIP message ("" when absent); names are case-insensitive."""
    head = message.split("\r\n\r\n", 1)[0]
    for line in head.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return ""


class PeerCall(pj.Call):  # type: ignore[misc]
    def __init__(self, peer: Peer, account: PeerAccount, slot_id: int, call_id: int) -> None:
        super().__init__(account, call_id)
        self.peer = peer
        self.slot_id = slot_id

    def onCallState(self, prm: pj.OnCallStateParam) -> None:
        info = self.getInfo()
        state = info.stateText
        emit(
            "call_state",
            call=self.slot_id,
            state=state,
            code=info.lastStatusCode,
            reason=info.lastReason,
            call_id=info.callIdString,
        )
        if info.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.peer.on_disconnected(self.peer.calls[self.slot_id])

    def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
        self.peer.on_media(self.peer.calls[self.slot_id])

    def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
        """A digit the far end sent (RFC 4733 or INFO): tests check feature codes stay out."""
        emit("dtmf_received", call=self.slot_id, digit=str(prm.digit))

    def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
        """A NOTIFY about our REFER: the sipfrag's status line (RFC 3515 §2.4.5)."""
        emit(
            "transfer_status",
            call=self.slot_id,
            code=int(prm.statusCode),
            reason=str(prm.reason),
            final=bool(prm.finalNotify),
        )


def _use_srtp(acc_cfg: pj.AccountConfig, srtp: str) -> None:
    if srtp == "off":
        return
    acc_cfg.mediaConfig.srtpUse = {
        "optional": pj.PJMEDIA_SRTP_OPTIONAL,
        "mandatory": pj.PJMEDIA_SRTP_MANDATORY,
    }[srtp]
    acc_cfg.mediaConfig.srtpSecureSignaling = 1  # SDES keys only over a TLS hop
    acc_cfg.mediaConfig.srtpOpt.keyings.clear()
    acc_cfg.mediaConfig.srtpOpt.keyings.append(pj.PJMEDIA_SRTP_KEYING_SDES)


def wav_complete(path: str) -> bool:
    """True once the writer has patched the RIFF size (its placeholder stays until it closes)."""
    try:
        with open(path, "rb") as f:
            header = f.read(8)
            size = os.fstat(f.fileno()).st_size
    except OSError:
        return False
    return header[:4] == b"RIFF" and int.from_bytes(header[4:8], "little") == size - 8 > 36


def read_commands(buffer: bytearray) -> list[dict[str, Any]]:
    """Take whole lines from stdin without blocking; an empty read (EOF) means quit."""
    ready, _, _ = select.select([0], [], [], 0)
    if not ready:
        return []
    chunk = os.read(0, 65536)
    if not chunk:
        return [{"cmd": "quit"}]
    buffer.extend(chunk)
    commands = []
    while b"\n" in buffer:
        line, _, rest = bytes(buffer).partition(b"\n")
        buffer[:] = rest
        if line.strip():
            try:
                commands.append(json.loads(line))
            except json.JSONDecodeError as exc:
                emit("error", message=f"bad command line: {exc}")
    return commands


def main() -> None:
    global _event_fd
    parser = argparse.ArgumentParser()
    parser.add_argument("--log", help="pjsua2 log file")
    parser.add_argument("--log-level", type=int, default=4)
    parser.add_argument("--tls-ca", help="verify the server's TLS certificate against this CA")
    parser.add_argument("--tls-cert", help="certificate of the TLS transport (a carrier's side)")
    parser.add_argument("--tls-key", help="private key of --tls-cert")
    parser.add_argument("--tls-port", type=int, default=0, help="port of the TLS transport")
    args = parser.parse_args()
    # pjlib prints to stdout before its log config applies: keep stdout for events only.
    _event_fd = os.dup(1)
    os.dup2(2, 1)
    peer = Peer()
    server = (args.tls_cert, args.tls_key, args.tls_port) if args.tls_cert else None
    peer.start(args.log, args.log_level, args.tls_ca, server)
    buffer = bytearray()
    while not peer.quitting:
        peer.ep.libHandleEvents(PUMP_MS)
        peer.check_timers(time.monotonic())
        for cmd in read_commands(buffer):
            peer.handle(cmd)
    peer.hang_up_all(HANGUP_ON_QUIT_S)
    for slot in peer.calls.values():
        peer._close_recorder(slot)
    while peer.finalizing:
        peer.ep.libHandleEvents(PUMP_MS)
        peer.check_timers(time.monotonic())
    emit("bye")
    sys.stderr.flush()
    # pjsua2's destructors at interpreter exit can crash: leave without running them.
    os._exit(0)


if __name__ == "__main__":
    main()
