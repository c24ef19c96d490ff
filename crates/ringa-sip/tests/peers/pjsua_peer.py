"""A scriptable SIP endpoint on PJSIP (pjsua2) for ringa's interop tests.

One process listens on 127.0.0.1:PORT and answers every INVITE according to a plan keyed by
the Request-URI user part (a JSON file: {"user": {"kind": ..., ...}}):

  answer   180, then 200 after `answer_after` s; plays `audio` (a WAV) once; hangs up
           after `hangup_after` s if given, else waits for the BYE
  early    183 with early media playing `early_audio`, then as `answer`
  busy     486          invalid  404          unavailable  480
  ring     180 and nothing more (a CANCEL gets 487 from PJSIP)
  agent    200 at once; plays `audio` in a loop (an agent phone that talks)

Any answered call whose plan names `record` (a WAV path) records what the peer hears from
the 200 on, logged as "recording" when it starts (the moment its audio starts playing) and
"recorded" once the file is closed after the call ended.

Every event is written as one JSON line to the log: the INVITE with the From and
P-Asserted-Identity users it carried, answers, and the final state with its SIP code.
SIGUSR1 hangs up every live call (a phone put down), logged as "hangup".
The wheel allows 4 simultaneous calls a process: the tests start one process per 4 calls.
Callbacks run on the main thread, which polls PJSIP's events in a loop; the process ends
with os._exit(0) after libDestroy (PJSIP can assert at interpreter exit otherwise).
"""

import gc
import json
import os
import re
import signal
import struct
import sys
import time

import pjsua2 as pj

PORT = int(sys.argv[1])
PLAN = json.load(open(sys.argv[2]))
LOG = open(sys.argv[3], "a", buffering=1)
LIFETIME = float(sys.argv[4]) if len(sys.argv) > 4 else 300.0

running = True
hangup_all = [False]
calls = {}  # serial -> PeerCall; keeps every live call's Python object alive
serial = [0]
timers = []  # (due, function)


def log(event, **fields):
    fields["event"] = event
    fields["t"] = round(time.time(), 3)
    LOG.write(json.dumps(fields) + "\n")


def user_of(text):
    m = re.search(r"sips?:([^@;>\s]+)@", text or "")
    return m.group(1) if m else None


def header(msg, name):
    m = re.search(r"^" + name + r":\s*(.*)$", msg, re.IGNORECASE | re.MULTILINE)
    return m.group(1).strip() if m else None


def later(delay, fn):
    timers.append((time.time() + delay, fn))


def wav_complete(path):
    """Whether a WAV file's RIFF and data lengths account for the whole file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return False
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return False
    if struct.unpack("<I", data[4:8])[0] != len(data) - 8:
        return False
    at = 12
    while at + 8 <= len(data):
        kind, size = data[at:at + 4], struct.unpack("<I", data[at + 4:at + 8])[0]
        if kind == b"data":
            return at + 8 + size == len(data)
        at += 8 + size + (size & 1)
    return False


class PeerCall(pj.Call):
    def __init__(self, acc, call_id, user, plan, sip_call_id):
        pj.Call.__init__(self, acc, call_id)
        self.user = user
        self.plan = plan
        self.sip_call_id = sip_call_id
        self.players = []
        self.done = False
        self.answered = False
        self.final = False

    def reply(self, code):
        if self.done:
            return
        prm = pj.CallOpParam()
        prm.statusCode = code
        # The media callback runs inside answer(): it must already know this is the 200.
        self.final = code == 200
        try:
            self.answer(prm)
        except pj.Error as e:
            log("error", user=self.user, what="answer %d: %s" % (code, e.info()))
            return
        if code == 200:
            self.answered = True
            # After early media the 200 may bring no new media state: start the audio here.
            self.start_audio()
            log("answered", user=self.user, call_id=self.sip_call_id)
            after = self.plan.get("hangup_after")
            if after is not None:
                later(float(after), self.bye)

    def bye(self):
        if self.done:
            return
        try:
            self.hangup(pj.CallOpParam())
            log("hangup", user=self.user, call_id=self.sip_call_id)
        except pj.Error:
            pass

    def onCallState(self, prm):
        ci = self.getInfo()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            self.done = True
            # pjsua2 holds the call's slot while its Python object lives: release it soon
            # after (not inside its own callback), or a process takes only 4 calls in all.
            later(1.0, lambda key=self.key: calls.pop(key, None))
            later(0.2, self.close_recorder)
            log(
                "ended",
                user=self.user,
                call_id=self.sip_call_id,
                code=ci.lastStatusCode,
                answered=self.answered,
                connect_s=ci.connectDuration.sec + ci.connectDuration.msec / 1000.0,
            )

    def close_recorder(self, tries=0):
        recorder = getattr(self, "recorder", None)
        if recorder is not None:
            self.recorder = None
            # The WAV header gets its lengths when the recorder is destroyed.
            del recorder
            gc.collect()
        path = self.plan.get("record")
        if path is None or getattr(self, "recorded", False):
            return
        # "recorded" promises a whole file: the header's lengths cover every byte written.
        if not wav_complete(path) and tries < 50:
            later(0.1, lambda: self.close_recorder(tries + 1))
            return
        self.recorded = True
        log("recorded", user=self.user, call_id=self.sip_call_id, path=path,
            complete=wav_complete(path), waited_s=round(tries * 0.1, 1))

    def onCallMediaState(self, prm):
        self.start_audio()

    def start_audio(self):
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type != pj.PJMEDIA_TYPE_AUDIO or mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                continue
            media = self.getAudioMedia(i)
            # The (null) microphone sends silence all along, as a phone's does: RTP never
            # stops while the call is up.
            if not getattr(self, "mic", False):
                self.mic = True
                pj.Endpoint.instance().audDevManager().getCaptureDevMedia().startTransmit(media)
            record = self.plan.get("record")
            if self.final and record and not hasattr(self, "recorder"):
                self.recorder = pj.AudioMediaRecorder()
                self.recorder.createRecorder(record)
                media.startTransmit(self.recorder)
                log("recording", user=self.user, call_id=self.sip_call_id, path=record)
            if self.final:
                wav, loop = self.plan.get("audio"), self.plan.get("kind") == "agent"
            else:
                wav, loop = self.plan.get("early_audio"), False
            if not wav or getattr(self, "playing", None) == wav:
                continue
            self.playing = wav
            player = pj.AudioMediaPlayer()
            player.createPlayer(wav, 0 if loop else pj.PJMEDIA_FILE_NO_LOOP)
            player.startTransmit(media)
            self.players.append(player)


class PeerAccount(pj.Account):
    def onIncomingCall(self, prm):
        msg = prm.rdata.wholeMsg
        first = msg.split("\r\n", 1)[0]
        user = user_of(first) or "?"
        plan = PLAN.get(user, {"kind": "invalid"})
        sip_call_id = header(msg, "Call-ID") or header(msg, "i")
        call = PeerCall(self, prm.callId, user, plan, sip_call_id)
        serial[0] += 1
        call.key = serial[0]
        calls[call.key] = call
        log(
            "invite",
            user=user,
            kind=plan.get("kind"),
            call_id=sip_call_id,
            from_user=user_of(header(msg, "From") or header(msg, "f")),
            pai_user=user_of(header(msg, "P-Asserted-Identity")),
        )
        kind = plan.get("kind")
        if kind == "busy":
            call.reply(486)
        elif kind == "invalid":
            call.reply(404)
        elif kind == "unavailable":
            call.reply(480)
        elif kind == "agent":
            call.reply(200)
        elif kind == "ring":
            call.reply(180)
        elif kind == "early":
            call.reply(183)
            later(float(plan.get("answer_after", 2.0)), lambda: call.reply(200))
        else:
            call.reply(180)
            later(float(plan.get("answer_after", 2.0)), lambda: call.reply(200))


def stop(*_):
    global running
    running = False


def put_down(*_):
    hangup_all[0] = True


def main():
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGUSR1, put_down)
    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.maxCalls = 4
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.uaConfig.userAgent = "pjsua-peer"
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    cfg.medConfig.noVad = True
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    ep.libInit(cfg)
    tcfg = pj.TransportConfig()
    tcfg.port = PORT
    tcfg.boundAddress = "127.0.0.1"
    tcfg.publicAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tcfg)
    ep.audDevManager().setNullDev()
    # Only G.711: what a trunk or a desk phone on a telephone network offers.
    for c in ep.codecEnum2():
        keep = c.codecId.startswith("PCMU") or c.codecId.startswith("PCMA")
        ep.codecSetPriority(c.codecId, 200 if keep else 0)
    ep.libStart()
    acfg = pj.AccountConfig()
    acfg.idUri = "sip:peer@127.0.0.1:%d" % PORT
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = PeerAccount()
    acc.create(acfg)
    log("ready", port=PORT)
    end = time.time() + LIFETIME
    while running and time.time() < end:
        ep.libHandleEvents(10)
        if hangup_all[0]:
            hangup_all[0] = False
            for c in list(calls.values()):
                if c.answered and not c.done:
                    c.bye()
        now = time.time()
        due = [t for t in timers if t[0] <= now]
        for t in due:
            timers.remove(t)
            try:
                t[1]()
            except pj.Error as e:
                log("error", what=e.info())
    for c in list(calls.values()):
        if not c.done:
            c.bye()
    for _ in range(20):
        ep.libHandleEvents(10)
    log("exit")
    LOG.flush()
    ep.libDestroy()
    os._exit(0)


main()
