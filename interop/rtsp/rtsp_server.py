#!/usr/bin/python3
"""RTSP camera stand-in for OspBridge tests: GStreamer's gst-rtsp-server serving a live test pattern as H.264
(x264enc, baseline, keyframe every second) plus an Opus tone, on 127.0.0.1 (or --address) only.

Usage: rtsp_server.py --port 8554 [--address 127.0.0.1] [--path /cam] [--width 640 --height 360 --fps 30]
                      [--auth none|basic|digest --user u --password p] [--no-audio] [--protocols all|tcp|udp]
                      [--backchannel out.raw [--backchannel-codec PCMU|PCMA]]
--backchannel makes it an ONVIF server (GstRtspServer.RTSPOnvifServer + RTSPOnvifMediaFactory): a DESCRIBE with
"Require: www.onvif.org/ver20/backchannel" gets an extra a=sendonly audio section (G.711, 8 kHz); what a client sends
there is decoded and written to the file as raw S16LE mono 8 kHz PCM (unbuffered, so a killed server leaves it whole;
async=false: a back channel with no data yet must not hold up the media's preroll, else PLAY is answered 503).
Prints "READY rtsp://<address>:<port><path>" on stdout once the server is listening; runs until killed
(or --seconds elapse). Needs gir1.2-gst-rtsp-server-1.0, python3-gi, gstreamer1.0-plugins-{base,good,ugly}.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--address", default="127.0.0.1")
    ap.add_argument("--path", default="/cam")
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--bitrate", type=int, default=1000, help="kbit/s")
    ap.add_argument("--auth", choices=["none", "basic", "digest"], default="none")
    ap.add_argument("--user", default="user")
    ap.add_argument("--password", default="pass")
    ap.add_argument("--no-audio", action="store_true")
    ap.add_argument("--protocols", choices=["all", "tcp", "udp"], default="all",
                    help="lower transports offered (tcp: a UDP SETUP is answered 461 Unsupported Transport)")
    ap.add_argument("--backchannel", help="ONVIF back channel: decoded PCM (S16LE, 8 kHz, mono) to this file")
    ap.add_argument("--backchannel-codec", choices=["PCMU", "PCMA"], default="PCMU")
    ap.add_argument("--seconds", type=int, default=600, help="exit after this long (a bound for tests)")
    a = ap.parse_args()

    Gst.init(None)
    video = (
        f"videotestsrc is-live=true pattern=ball ! video/x-raw,width={a.width},height={a.height},framerate={a.fps}/1 "
        f"! clockoverlay ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={a.fps} bitrate={a.bitrate} "
        f"! video/x-h264,profile=baseline ! rtph264pay name=pay0 pt=96 config-interval=-1"
    )
    if "clockoverlay" in video and Gst.ElementFactory.find("clockoverlay") is None:
        video = video.replace("! clockoverlay ", "")
    audio = "audiotestsrc is-live=true freq=440 wave=sine ! audioconvert ! audioresample ! opusenc ! rtpopuspay name=pay1 pt=97"
    launch = f"( {video} {'' if a.no_audio else audio} )"

    if a.backchannel:
        server = GstRtspServer.RTSPOnvifServer()
        factory = GstRtspServer.RTSPOnvifMediaFactory()
        pt, depay, dec = ("0", "rtppcmudepay", "mulawdec") if a.backchannel_codec == "PCMU" else ("8", "rtppcmadepay", "alawdec")
        factory.set_backchannel_launch(
            f'( capsfilter caps="application/x-rtp, media=audio, payload={pt}, clock-rate=8000, '
            f'encoding-name={a.backchannel_codec}" name=depay_backchannel ! {depay} ! {dec} ! audioconvert '
            f'! audio/x-raw,format=S16LE,channels=1,rate=8000 ! filesink location={a.backchannel} buffer-mode=unbuffered async=false )')
        factory.set_media_gtype(GstRtspServer.RTSPOnvifMedia.__gtype__)
        factory.set_shared(False)  # a back channel belongs to one client's session
    else:
        server = GstRtspServer.RTSPServer()
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_shared(True)
    server.set_address(a.address)
    server.set_service(str(a.port))
    factory.set_launch(launch)
    if a.protocols == "tcp":
        factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    elif a.protocols == "udp":
        factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP)

    if a.auth != "none":
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "user")
        if a.auth == "basic":
            auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        else:
            auth.add_digest(a.user, a.password, token)
            auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        server.set_auth(auth)
        perms = GstRtspServer.RTSPPermissions()
        perms.add_role("user")
        perms.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        perms.add_permission_for_role("user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(perms)

    server.get_mount_points().add_factory(a.path, factory)
    if server.attach(None) == 0:
        print("ERROR could not listen", flush=True)
        sys.exit(1)
    print(f"READY rtsp://{a.address}:{a.port}{a.path}", flush=True)
    loop = GLib.MainLoop()
    GLib.timeout_add_seconds(a.seconds, loop.quit)
    loop.run()


if __name__ == "__main__":
    main()
