using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OspBridge.Crypto.Dtls;
using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Rtp;
using OspBridge.WebRtc.Rtp.Rtcp;
using OspBridge.WebRtc.Sdp;
using OspBridge.WebRtc.Srtp;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.WebRtc;

/// <summary>
/// Media half of the core: RTP transceivers (one per audio/video m-section), SRTP/SRTCP keyed from the DTLS
/// exporter, RFC 7983 demux of RTP/RTCP (only from the validated ICE pair), RFC 8843 §9.2 routing (mid header
/// extension, then SSRC table, then payload type). Each transceiver's RTP session is the sans-IO pair
/// <see cref="RtpSendStream"/> (packetizing, retransmission ring for NACK, PLI/FIR → keyframe request events, REMB,
/// SR + SDES) and <see cref="RtpReceiveStream"/> (RFC 3550 A.1/A.3/A.8, reorder ring, generic NACK and PLI generation,
/// RR + SDES); received audio goes through an <see cref="AudioJitterBuffer"/>. The core multiplexes them onto the one
/// transport and queues received frames per transceiver for <see cref="TryReadFrame"/>.
/// </summary>
public sealed partial class PeerConnectionCore
{
    /// <summary>Largest RTP packet (header + payload) we send; one SRTP packet then fits a 1280-octet IPv6 path.</summary>
    public const int MaxRtpPacketSize = 1200;

    /// <summary>Video packets kept per sender for NACK retransmission (also the most packets queued unsent).</summary>
    public const int RetransmitHistory = 512;

    private const int MaxTransceivers = 32;
    private const int MaxSsrcRoutes = 64;
    // room for an RTP packet written by RtpSendStream (MaxPacketSize + 2 for RTX) plus the SRTP tag
    private const int MinMediaDestination = MaxRtpPacketSize + 2 + 16;

    private readonly List<MediaSection> _sections = [];
    private readonly Dictionary<uint, MediaSection> _ssrcRoutes = [];
    private SrtpContext? _srtpOut;
    private SrtpContext? _srtpIn;
    private int _mediaCursor;
    private TimeSpan _mediaNow;
    private string _cname = "";

    /// <summary>Number of RTP transceivers (audio/video m-sections, ours and the peer's).</summary>
    public int TransceiverCount => _sections.Count;

    /// <summary>The negotiated SRTP protection profile, once DTLS is connected with use_srtp.</summary>
    public SrtpProtectionProfile? SrtpProfile => _srtpOut?.Profile;

    /// <summary>RTP/RTCP packets dropped: before SRTP keys exist, failed SRTP authentication/replay, or no transceiver matched.</summary>
    public long MediaDropped { get; private set; }

    /// <summary>RTP packets overwritten in a sender's ring before they could be sent (the transport did not keep up).</summary>
    public long RtpSendQueueDrops
    {
        get
        {
            long n = 0;
            foreach (var s in _sections) n += s.SendStatistics.PacketsDroppedUnsent;
            return n;
        }
    }

    /// <summary>
    /// Adds an RTP transceiver (W3C <c>addTransceiver</c>): it gets an m-section in our next offer, or is matched to
    /// the next offered m-section of its kind that no transceiver has yet. Returns its index.
    /// </summary>
    public int AddTransceiver(MediaKind kind, RTCRtpTransceiverDirection direction)
    {
        ThrowIfClosed();
        if (_sections.Count >= MaxTransceivers) throw new WebRtcException(WebRtcError.LimitExceeded, $"more than {MaxTransceivers} transceivers");
        var s = NewSection(kind, direction);
        s.Added = true;
        _sections.Add(s);
        return s.Index;
    }

    /// <summary>
    /// W3C <c>setCodecPreferences</c> for transceiver <paramref name="index"/>: the codecs it may negotiate, most wanted
    /// first (empty = the default: every codec we carry, H.264 before H.265). Our next offer lists only these; when an
    /// offer has already been received and not yet answered, the answer's codec is selected again from it.
    /// </summary>
    public void SetCodecPreferences(int index, IReadOnlyList<MediaCodec> codecs)
    {
        ArgumentNullException.ThrowIfNull(codecs);
        var s = Section(index);
        s.CodecPreferences = codecs.Count == 0 ? null : [.. codecs.Distinct()];
        if (s.RemoteLine >= 0 && s.Offered.Count > 0 && SignalingState == RTCSignalingState.HaveRemoteOffer)
            SelectAnswerCodec(s); // may also un-reject a section an earlier preference left without a codec
    }

    /// <summary>
    /// The one answer-time codec selection: from the offered formats, by the section's preferences; a section whose
    /// offer is unusable (port 0, outside the BUNDLE group) or that has no common codec is rejected.
    /// </summary>
    private static void SelectAnswerCodec(MediaSection s)
    {
        s.Codec = s.OfferUnusable ? null : RtpCodecNegotiation.Select(s.Kind, s.Offered, s.CodecPreferences);
        s.Rejected = s.Codec is null;
        s.Rtx = s.Kind == MediaKind.Video && s.Codec is { } chosen ? RtpCodecNegotiation.SelectRtx(s.Offered, chosen) : null;
    }

    /// <summary>Changes the direction we want for transceiver <paramref name="index"/> (applies with the next offer/answer).</summary>
    public void SetDirection(int index, RTCRtpTransceiverDirection direction) => Section(index).Direction = direction;

    /// <summary>A snapshot of transceiver <paramref name="index"/>: mid, kind, directions, negotiated codec, SSRCs and counters.</summary>
    public RtpTransceiverInfo GetTransceiver(int index)
    {
        var s = Section(index);
        return new RtpTransceiverInfo(s.Index, s.Mid, s.Kind, s.Direction, s.CurrentDirection, s.Codec, s.LocalSsrc,
            [.. s.RemoteSsrcs], StatsOf(s));
    }

    /// <summary>
    /// Sends one encoded frame on transceiver <paramref name="index"/>: its <see cref="RtpSendStream"/> packetizes it
    /// (negotiated payload type, our SSRC, the mid extension when negotiated, the RTP timestamp from
    /// <see cref="EncodedFrame.Timestamp"/> plus the stream's random offset) into its retransmission ring; the packets
    /// go out, SRTP-protected, as the driver polls. <see cref="EncodedFrame.Data"/> is copied. Returns false when the
    /// transceiver may not send (no SRTP yet, direction, no codec, another codec) or the packetizer refused the frame.
    /// </summary>
    public bool SendFrame(int index, in EncodedFrame frame, TimeSpan now)
    {
        var s = Section(index);
        if (_closed || _srtpOut is null || s.Codec is not { } codec || !s.CurrentDirection.Sends()
            || RtpCodecNegotiation.CodecOf(codec) is not { } mediaCodec || mediaCodec != frame.Codec) return false;
        _mediaNow = now;
        return s.EnsureSender(codec, mediaCodec, _cname, _options.Random ?? SystemRandom).SendFrame(frame, now) > 0;
    }

    /// <summary>
    /// Takes the next received frame of transceiver <paramref name="index"/> (H.264/H.265 access units in Annex B
    /// after reordering, NACK repair and waiting for a keyframe; audio in playout order after the jitter buffer).
    /// <paramref name="frame"/>'s memory is valid until the next call for this transceiver. False when none is queued;
    /// a <see cref="PeerConnectionEventKind.RtpReceived"/> event announces the next one.
    /// </summary>
    public bool TryReadFrame(int index, out EncodedFrame frame)
    {
        var s = Section(index);
        if (s.TryReadFrame(out frame)) return true;
        s.ReceiveNotified = false;
        return false;
    }

    /// <summary>
    /// Asks the peer for a keyframe on transceiver <paramref name="index"/>: a PLI (RFC 4585 §6.3.1), rate-limited and
    /// repeated until a keyframe arrives. False when nothing is received yet (the peer's SSRC is unknown) or audio.
    /// </summary>
    public bool RequestKeyframe(int index) => Section(index).Receiver?.RequestKeyframe() ?? false;

    /// <summary>Test hook: the sequence number transceiver <paramref name="index"/>'s send stream gives its next packet (0 before the first frame).</summary>
    internal ushort NextSequenceForTest(int index) => Section(index).Sender?.NextSequenceNumber ?? 0;

    private MediaSection Section(int index) =>
        (uint)index < (uint)_sections.Count ? _sections[index] : throw new WebRtcException(WebRtcError.InvalidArgument, $"no transceiver {index}");

    private MediaSection NewSection(MediaKind kind, RTCRtpTransceiverDirection direction)
    {
        var random = _options.Random ?? SystemRandom;
        Span<byte> r = stackalloc byte[8];
        random.GetBytes(r);
        return new MediaSection(_sections.Count, kind, direction)
        {
            LocalSsrc = BinaryPrimitives.ReadUInt32BigEndian(r) | 1,
            LocalRtxSsrc = (BinaryPrimitives.ReadUInt32BigEndian(r[4..]) & ~1u) | 2, // even: never equal to LocalSsrc (odd), never 0
        };
    }

    private static RtpStreamStats StatsOf(MediaSection s)
    {
        var tx = s.SendStatistics;
        var rx = s.ReceiveStatistics;
        return new RtpStreamStats
        {
            PacketsSent = tx.PacketsSent,
            BytesSent = tx.OctetsSent,
            Retransmitted = tx.PacketsRetransmitted,
            NackReceived = tx.NacksReceived,
            PliReceived = tx.PliReceived,
            FirReceived = tx.FirReceived,
            SendQueueDrops = tx.PacketsDroppedUnsent,
            RoundTripTime = tx.RoundTripTime,
            ReceiveRoundTripTime = s.Receiver?.MeasuredRoundTripTime,
            BitrateEstimate = tx.BitrateEstimate,
            BitrateEstimateSent = s.Receiver?.BitrateEstimateSent,
            PacketsReceived = s.PacketsAccepted,
            BytesReceived = s.OctetsAccepted,
            PacketsLost = Math.Max(0, rx.CumulativeLost),
            ReceiveQueueDrops = s.FrameQueueDrops,
            Jitter = rx.Jitter,
            NackSent = rx.NacksSent,
            PliSent = rx.PlisSent,
            PacketsRecovered = rx.PacketsRecovered,
            PacketsGivenUp = rx.PacketsGivenUp,
            FramesReceived = s.FramesQueued,
            FramesDropped = rx.FramesDropped,
            FramesConcealed = s.FramesConcealed,
        };
    }

    // ------------------------------------------------------------------ SDP

    /// <summary>The offerer's transport section: the first m-section of the first BUNDLE group (RFC 8843 §7.3.1), else the first usable one.</summary>
    internal static SdpMediaDescription? TransportSection(SessionDescription sd)
    {
        var bundle = BundleMids(sd);
        if (bundle.Count > 0)
            foreach (var m in sd.Media)
                if (m.Port != 0 && m.Mid == bundle[0]) return m;
        return sd.Media.FirstOrDefault(m => m.Port != 0 && (m.IsDataChannel || IsRtpSection(m)));
    }

    /// <summary>The mids of the first <c>a=group:BUNDLE</c>, or empty.</summary>
    internal static List<string> BundleMids(SessionDescription sd)
    {
        foreach (var g in sd.Attributes.Where(a => a.Name == "group" && a.Value is not null))
        {
            var p = g.Value!.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (p.Length > 1 && p[0] == "BUNDLE") return [.. p.Skip(1)];
        }
        return [];
    }

    internal static bool IsRtpSection(SdpMediaDescription m) =>
        m.Media is "audio" or "video" && m.Protocol.Contains("RTP/", StringComparison.Ordinal);

    /// <summary>
    /// Applies the peer's description to the transceivers. An offer's audio/video sections are matched in order to
    /// transceivers we added (same kind, no mid yet) or create recvonly ones; sections outside the transport's BUNDLE
    /// group (or every section but the transport one when the offer has no BUNDLE) are rejected in our answer, as we
    /// run one transport.
    /// </summary>
    private void ApplyRemoteMedia(SessionDescription sd, SdpMediaDescription transport, bool isOffer, TimeSpan now)
    {
        var bundle = BundleMids(sd);
        bool Bundled(SdpMediaDescription m) => ReferenceEquals(m, transport) || (bundle.Count > 0 && m.Mid is { } id && bundle.Contains(id));
        for (int i = 0; i < sd.Media.Count; i++)
        {
            var m = sd.Media[i];
            if (!IsRtpSection(m)) continue;
            var kind = m.Media == "audio" ? MediaKind.Audio : MediaKind.Video;
            MediaSection? s;
            if (isOffer)
            {
                s = _sections.FirstOrDefault(x => x.Mid is not null && x.Mid == m.Mid && x.Kind == kind)
                    ?? _sections.FirstOrDefault(x => x.Mid is null && x.Kind == kind && x.RemoteLine < 0);
                if (s is null)
                {
                    if (_sections.Count >= MaxTransceivers) continue;
                    s = NewSection(kind, RTCRtpTransceiverDirection.RecvOnly);
                    _sections.Add(s);
                }
                s.Mid = m.Mid ?? i.ToString(CultureInfo.InvariantCulture);
                s.RemoteLine = i;
                s.Offered = RtpCodecDescription.FromMedia(m);
                s.RemoteDirection = RTCRtpTransceiverDirections.FromSdp(m);
                s.OfferUnusable = m.Port == 0 || !Bundled(m);
                SelectAnswerCodec(s);
                s.MidExtensionId = s.OfferUnusable ? 0 : RtpCodecNegotiation.MidExtensionId(m);
            }
            else
            {
                s = _sections.FirstOrDefault(x => x.Mid is not null && x.Mid == m.Mid);
                if (s is null) continue;
                s.RemoteLine = i;
                s.RemoteDirection = RTCRtpTransceiverDirections.FromSdp(m);
                var answered = RtpCodecDescription.FromMedia(m);
                s.Codec = m.Port == 0 ? null : answered.FirstOrDefault(c => RtpCodecNegotiation.CodecOf(c) is not null);
                s.Rejected = s.Codec is null;
                s.Rtx = kind == MediaKind.Video && s.Codec is { } chosen ? RtpCodecNegotiation.SelectRtx(answered, chosen) : null;
                s.MidExtensionId = s.Rejected ? 0 : RtpCodecNegotiation.MidExtensionId(m);
                s.CurrentDirection = s.Rejected ? RTCRtpTransceiverDirection.Inactive : s.RemoteDirection.Reverse();
            }
            s.RemoteReducedSize = m.HasAttribute("rtcp-rsize");
            s.RemoteRtxSsrc = 0;
            foreach (var g in m.GetAttributes("ssrc-group"))
            {
                var f = g.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (f.Length == 3 && f[0] == "FID" && uint.TryParse(f[2], NumberStyles.None, CultureInfo.InvariantCulture, out uint rtxSsrc)) s.RemoteRtxSsrc = rtxSsrc;
            }
            s.RemoteSsrcs.Clear();
            foreach (var v in m.GetAttributes("ssrc"))
            {
                int sp = v.IndexOf(' ', StringComparison.Ordinal);
                if (uint.TryParse(sp < 0 ? v : v[..sp], NumberStyles.None, CultureInfo.InvariantCulture, out uint ssrc) && !s.RemoteSsrcs.Contains(ssrc) && s.RemoteSsrcs.Count < 8)
                {
                    s.RemoteSsrcs.Add(ssrc);
                    if (_ssrcRoutes.Count < MaxSsrcRoutes) _ssrcRoutes[ssrc] = s;
                }
            }
            if (!s.Rejected && s.RemoteDirection.Sends() && !s.TrackAnnounced)
            {
                s.TrackAnnounced = true;
                Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.Track, Transceiver: s.Index));
            }
        }
        _ = now;
    }

    /// <summary>Adds our audio/video m-sections to a description being built (answer: one per remote line, in its order).</summary>
    private void AddMediaSections(SessionDescription sd, bool isAnswer, List<(int Line, SdpMediaDescription Section)> lines, Action<SdpMediaDescription> transportAttrs)
    {
        if (_cname.Length == 0)
        {
            Span<byte> c = stackalloc byte[12];
            (_options.Random ?? SystemRandom).GetBytes(c);
            _cname = Convert.ToBase64String(c);
        }
        foreach (var s in _sections)
        {
            if (isAnswer && s.RemoteLine < 0) continue;
            if (!isAnswer && s.Mid is null) s.Mid = NextFreeMid();
            var m = new SdpMediaDescription
            {
                Media = s.Kind == MediaKind.Audio ? "audio" : "video",
                Protocol = "UDP/TLS/RTP/SAVPF",
            };
            m.Formats.Clear();
            IReadOnlyList<RtpCodecDescription> codecs = s.Codec is null
                ? isAnswer ? [] : LocalCodecsFor(s)
                : s.Rtx is null ? [s.Codec] : [s.Codec, s.Rtx];
            bool rejected = (isAnswer && (s.Rejected || s.Codec is null)) || s.Direction == RTCRtpTransceiverDirection.Stopped;
            if (rejected)
            {
                m.Port = 0;
                m.Formats.Add(isAnswer && s.Offered.Count > 0 ? s.Offered[0].PayloadType.ToString(CultureInfo.InvariantCulture) : "0");
                m.Attributes.Add(new SdpAttribute("mid", s.Mid));
                if (isAnswer) s.CurrentDirection = RTCRtpTransceiverDirection.Inactive;
                lines.Add((isAnswer ? s.RemoteLine : int.MaxValue, m));
                continue;
            }
            foreach (var c in codecs) m.Formats.Add(c.PayloadType.ToString(CultureInfo.InvariantCulture));
            m.Attributes.Add(new SdpAttribute("rtcp", "9 IN IP4 0.0.0.0"));
            transportAttrs(m);
            m.Attributes.Add(new SdpAttribute("mid", s.Mid));
            int extId = isAnswer ? s.MidExtensionId : 9;
            if (extId > 0) m.Attributes.Add(new SdpAttribute("extmap", extId.ToString(CultureInfo.InvariantCulture) + " " + RtpCodecNegotiation.MidExtensionUri));
            var dir = isAnswer ? RTCRtpTransceiverDirections.Answer(s.Direction, s.RemoteDirection) : s.Direction;
            if (isAnswer) s.CurrentDirection = dir;
            m.Attributes.Add(new SdpAttribute(dir.ToSdp()));
            string msid = "ospbridge " + s.TrackId;
            if (dir.Sends()) m.Attributes.Add(new SdpAttribute("msid", msid));
            m.Attributes.Add(new SdpAttribute("rtcp-mux"));
            m.Attributes.Add(new SdpAttribute("rtcp-rsize"));
            foreach (var c in codecs) c.WriteTo(m);
            if (dir.Sends())
            {
                string ssrc = s.LocalSsrc.ToString(CultureInfo.InvariantCulture);
                bool rtx = s.Kind == MediaKind.Video && (s.Rtx is not null || (!isAnswer && s.Codec is null));
                string rtxSsrc = s.LocalRtxSsrc.ToString(CultureInfo.InvariantCulture);
                if (rtx) m.Attributes.Add(new SdpAttribute("ssrc-group", "FID " + ssrc + " " + rtxSsrc));
                m.Attributes.Add(new SdpAttribute("ssrc", ssrc + " cname:" + _cname));
                m.Attributes.Add(new SdpAttribute("ssrc", ssrc + " msid:" + msid));
                if (rtx)
                {
                    m.Attributes.Add(new SdpAttribute("ssrc", rtxSsrc + " cname:" + _cname));
                    m.Attributes.Add(new SdpAttribute("ssrc", rtxSsrc + " msid:" + msid));
                }
            }
            lines.Add((isAnswer ? s.RemoteLine : int.MaxValue, m));
        }
    }

    private string NextFreeMid()
    {
        for (int i = 0; ; i++)
        {
            string mid = i.ToString(CultureInfo.InvariantCulture);
            if (_sections.All(s => s.Mid != mid) && (Mid != mid || _dataOffered)) return mid;
        }
    }

    private bool _dataOffered;

    // ------------------------------------------------------------------ SRTP / demux

    private void StartSrtp()
    {
        if (_srtpOut is not null || _dtls?.SelectedSrtpProfile is null) return;
        var keys = _dtls.GetSrtpKeyingMaterial();
        (_srtpOut, _srtpIn) = SrtpContext.Create(keys);
        Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.TransportsCreated, Reason: $"SRTP {keys.Profile}"));
    }

    private void ReceiveMedia(Span<byte> datagram, TimeSpan now)
    {
        _mediaNow = now;
        if (_srtpIn is null) { MediaDropped++; return; }
        if (RtpHeader.IsRtcp(datagram))
        {
            if (!_srtpIn.TryUnprotectRtcp(datagram, out int len)) { MediaDropped++; return; }
            HandleRtcp(datagram[..len], now);
            return;
        }
        if (!_srtpIn.TryUnprotectRtp(datagram, out int length) || !RtpHeader.TryRead(datagram[..length], out var h)) { MediaDropped++; return; }
        var packet = datagram[..length];
        var s = Route(packet, h);
        if (s?.Codec is not { } codec || RtpCodecNegotiation.CodecOf(codec) is not { } mediaCodec) { MediaDropped++; return; }
        var rs = s.EnsureReceiver(codec, mediaCodec, _cname, _options.Random ?? SystemRandom, _options.SendRemb);
        if (rs.ReceiveRtp(packet, now))
        {
            s.PacketsAccepted++;
            s.OctetsAccepted += packet.Length;
        }
        PumpFrames(s, now);
    }

    /// <summary>Moves ready frames into the section's queue and announces them once until the driver drained them.</summary>
    private void PumpFrames(MediaSection s, TimeSpan now)
    {
        if (!s.Pump(now) && s.QueuedFrames == 0) return;
        if (s.ReceiveNotified) return;
        s.ReceiveNotified = true;
        Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.RtpReceived, Transceiver: s.Index));
    }

    /// <summary>RFC 8843 §9.2: the mid header extension, then the SSRC table, then a unique payload type.</summary>
    private MediaSection? Route(ReadOnlySpan<byte> packet, in RtpHeader h)
    {
        MediaSection? s = null;
        if (h.HasExtension && h.ExtensionProfile == RtpExtensionReader.OneByteProfile)
        {
            var r = new RtpExtensionReader(h.ExtensionProfile, h.ExtensionData(packet));
            while (r.TryRead(out byte id, out var value))
            {
                foreach (var x in _sections)
                {
                    if (x.MidExtensionId == id && x.Mid is { } mid && value.Length == mid.Length && Encoding.ASCII.GetByteCount(mid) == value.Length && AsciiEquals(value, mid))
                    {
                        s = x;
                        break;
                    }
                }
                if (s is not null) break;
            }
            if (s is not null)
            {
                if (!_ssrcRoutes.ContainsKey(h.Ssrc) && _ssrcRoutes.Count < MaxSsrcRoutes) _ssrcRoutes[h.Ssrc] = s;
                if (!s.RemoteSsrcs.Contains(h.Ssrc) && s.RemoteSsrcs.Count < 8) s.RemoteSsrcs.Add(h.Ssrc);
            }
        }
        if (s is null && _ssrcRoutes.TryGetValue(h.Ssrc, out var byssrc)) s = byssrc;
        if (s is null)
        {
            foreach (var x in _sections)
            {
                if ((x.Codec?.PayloadType != h.PayloadType && x.Rtx?.PayloadType != h.PayloadType) || x.Rejected || !x.CurrentDirection.Receives()) continue;
                if (s is not null) return null; // ambiguous
                s = x;
            }
            if (s is not null)
            {
                if (_ssrcRoutes.Count < MaxSsrcRoutes) _ssrcRoutes[h.Ssrc] = s;
                if (!s.RemoteSsrcs.Contains(h.Ssrc) && s.RemoteSsrcs.Count < 8) s.RemoteSsrcs.Add(h.Ssrc);
            }
        }
        if (s is null || s.Rejected || !s.CurrentDirection.Receives()) return null;
        return s;
    }

    /// <summary>Our offer's formats for a section: all we carry, or those of its codec preferences in their order (with their RTX).</summary>
    private static IReadOnlyList<RtpCodecDescription> LocalCodecsFor(MediaSection s)
    {
        var all = RtpCodecNegotiation.LocalCodecs(s.Kind);
        if (s.CodecPreferences is not { } prefs) return all;
        var list = new List<RtpCodecDescription>();
        foreach (var codec in prefs)
        {
            foreach (var c in all)
            {
                if (RtpCodecNegotiation.CodecOf(c) != codec) continue;
                list.Add(c);
                if (RtpCodecNegotiation.SelectRtx(all, c) is { } rtx) list.Add(all.First(x => x.PayloadType == rtx.PayloadType));
            }
        }
        return list.Count == 0 ? all : list;
    }

    private static bool AsciiEquals(ReadOnlySpan<byte> value, string s)
    {
        for (int i = 0; i < value.Length; i++) if (value[i] != s[i]) return false;
        return true;
    }

    /// <summary>
    /// Hands a compound RTCP packet to every stream (each acts only on what names its SSRC: NACK/PLI/FIR/REMB/RR for a
    /// sender, SR/BYE for a receiver) and turns the senders' events into core events.
    /// </summary>
    private void HandleRtcp(ReadOnlySpan<byte> compound, TimeSpan now)
    {
        foreach (var s in _sections)
        {
            s.Receiver?.ReceiveRtcp(compound, now);
            if (s.Sender is not { } ss) continue;
            ss.ReceiveRtcp(compound, now);
            while (ss.TryPollEvent(out var e))
            {
                switch (e.Kind)
                {
                    case RtpSendStreamEventKind.KeyframeRequested:
                        Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.KeyframeRequested, Transceiver: s.Index));
                        break;
                    case RtpSendStreamEventKind.BitrateEstimate:
                        Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.BitrateEstimate, Transceiver: s.Index));
                        break;
                    case RtpSendStreamEventKind.ReceiverReport when ss.Statistics.RoundTripTime is { } rtt && s.Receiver is { } rs:
                        rs.RoundTripTime = rtt; // paces our NACK retries on this transceiver's receive side
                        break;
                }
            }
        }
        foreach (var s in _sections)
        {
            if (s.Receiver is null) continue;
            while (s.Receiver.TryPollEvent(out _)) { } // SR/BYE/restart: reflected in the stream's statistics
        }
    }

    private bool MediaCanFlow => _srtpOut is not null && !_closed && _dtls?.State == DtlsState.Connected
        && _ice.SelectedPair is not null && _ice.State != RTCIceConnectionState.Failed;

    /// <summary>
    /// Writes the next media datagram, SRTP/SRTCP-protected: per transceiver in turn, the receive stream's feedback
    /// (NACK, PLI, RR) and the send stream's SR, retransmissions and new packets. False when nothing is due.
    /// </summary>
    private bool TryPollMedia(Span<byte> destination, TimeSpan now, out int length)
    {
        length = 0;
        if (_srtpOut is null || destination.Length < MinMediaDestination || _sections.Count == 0) return false;
        _mediaNow = now;
        for (int k = 0; k < _sections.Count; k++)
        {
            var s = _sections[(_mediaCursor + k) % _sections.Count];
            int n;
            if (s.Receiver is { } rs && rs.TryPollTransmit(destination, now, out n))
            {
                if (_srtpOut.TryProtectRtcp(destination, n, out length)) return true;
                continue;
            }
            if (s.Sender is { } ss && ss.TryPollTransmit(destination, now, out n, out bool isRtcp))
            {
                // next call starts with the following transceiver: audio and video packets interleave
                _mediaCursor = (_mediaCursor + k + 1) % _sections.Count;
                if (isRtcp ? _srtpOut.TryProtectRtcp(destination, n, out length) : _srtpOut.TryProtectRtp(destination, n, out length)) return true;
                k = -1; // protection failed (cannot happen with a large enough buffer): try again from the new cursor
            }
        }
        return false;
    }

    /// <summary>The earliest media timer: SR/RR/NACK/PLI (while media can flow), reorder waits and audio playout.</summary>
    private TimeSpan? MediaNextDeadline
    {
        get
        {
            TimeSpan? t = null;
            bool flow = MediaCanFlow;
            foreach (var s in _sections)
            {
                if (flow && s.Sender?.NextDeadline is { } a && (t is null || a < t)) t = a;
                if (flow && s.Receiver?.NextDeadline is { } b && (t is null || b < t)) t = b;
                if (s.Jitter?.NextPlayout is { } c && (t is null || c < t)) t = c;
            }
            // A due timer was already served at _mediaNow and nothing changed since: never ask to be woken in the past
            // again (no busy loop if a stream has nothing to do at its deadline).
            if (t is { } d && d <= _mediaNow) t = _mediaNow + TimeSpan.FromMilliseconds(1);
            return t;
        }
    }

    /// <summary>Fires the streams' timers and moves frames that became ready (reorder wait over, audio playout due).</summary>
    private void HandleMediaDeadline(TimeSpan now)
    {
        _mediaNow = now;
        foreach (var s in _sections)
        {
            if (s.Sender?.NextDeadline is { } a && a <= now) s.Sender.HandleDeadline(now);
            if (s.Receiver is { } rs)
            {
                if (rs.NextDeadline is { } b && b <= now) rs.HandleDeadline(now);
                PumpFrames(s, now);
            }
        }
    }
}

/// <summary>Per-transceiver counters (a <c>getStats()</c>-shaped subset of RTCOutboundRtpStreamStats / RTCInboundRtpStreamStats).</summary>
public sealed record RtpStreamStats
{
    /// <summary>RTP packets sent (retransmissions excluded).</summary>
    public long PacketsSent { get; set; }
    /// <summary>Payload octets sent.</summary>
    public long BytesSent { get; set; }
    /// <summary>Packets retransmitted after a NACK.</summary>
    public long Retransmitted { get; set; }
    /// <summary>NACK packets received.</summary>
    public long NackReceived { get; set; }
    /// <summary>PLIs received.</summary>
    public long PliReceived { get; set; }
    /// <summary>FIRs received.</summary>
    public long FirReceived { get; set; }
    /// <summary>Packets overwritten in the send ring before the transport took them.</summary>
    public long SendQueueDrops { get; set; }
    /// <summary>Round-trip time from the peer's last reception report (LSR/DLSR); null before one arrived.</summary>
    public TimeSpan? RoundTripTime { get; set; }
    /// <summary>
    /// Round-trip time measured on the receive side: our RTCP XR RRTR answered by the peer's DLRR (RFC 3611 §4.4/4.5);
    /// null while no DLRR for one of our RRTRs arrived (a peer that does not answer RRTR keeps it null).
    /// </summary>
    public TimeSpan? ReceiveRoundTripTime { get; set; }
    /// <summary>The peer's last REMB for our stream in bit/s (its receive-side bandwidth estimate); null when none arrived.</summary>
    public ulong? BitrateEstimate { get; set; }
    /// <summary>The last REMB we sent for the peer's stream in bit/s (our receive-side estimate); null when none was sent.</summary>
    public ulong? BitrateEstimateSent { get; set; }
    /// <summary>RTP packets received (after SRTP) and accepted by the receive stream, retransmissions included.</summary>
    public long PacketsReceived { get; set; }
    /// <summary>Octets of those packets (header and payload).</summary>
    public long BytesReceived { get; set; }
    /// <summary>Packets lost (expected − received, RFC 3550 A.3; never negative here).</summary>
    public long PacketsLost { get; set; }
    /// <summary>Received frames dropped because the driver did not read them.</summary>
    public long ReceiveQueueDrops { get; set; }
    /// <summary>Interarrival jitter in RTP timestamp units (RFC 3550 A.8).</summary>
    public double Jitter { get; set; }
    /// <summary>Generic NACK packets we sent.</summary>
    public long NackSent { get; set; }
    /// <summary>PLIs we sent.</summary>
    public long PliSent { get; set; }
    /// <summary>Missing packets that arrived after we NACKed them.</summary>
    public long PacketsRecovered { get; set; }
    /// <summary>Missing packets given up (NACK retries or age exhausted, or the gap too large).</summary>
    public long PacketsGivenUp { get; set; }
    /// <summary>Frames handed to the driver.</summary>
    public long FramesReceived { get; set; }
    /// <summary>Frames the receive side dropped (broken by loss, or delta frames while waiting for a keyframe).</summary>
    public long FramesDropped { get; set; }
    /// <summary>Audio frames due for playout that were missing (a decoder conceals them).</summary>
    public long FramesConcealed { get; set; }
}

/// <summary>A snapshot of one transceiver of a <see cref="PeerConnectionCore"/>.</summary>
/// <param name="Index">Its index.</param>
/// <param name="Mid">Its mid, null before negotiation.</param>
/// <param name="Kind">Audio or video.</param>
/// <param name="Direction">The direction we want.</param>
/// <param name="CurrentDirection">The negotiated direction (Inactive before negotiation or when rejected).</param>
/// <param name="Codec">The negotiated payload format, or null.</param>
/// <param name="LocalSsrc">Our sending SSRC.</param>
/// <param name="RemoteSsrcs">The peer's SSRCs seen in SDP or on the wire.</param>
/// <param name="Stats">Counters.</param>
public sealed record RtpTransceiverInfo(int Index, string? Mid, MediaKind Kind, RTCRtpTransceiverDirection Direction,
    RTCRtpTransceiverDirection CurrentDirection, RtpCodecDescription? Codec, uint LocalSsrc, IReadOnlyList<uint> RemoteSsrcs, RtpStreamStats Stats);
