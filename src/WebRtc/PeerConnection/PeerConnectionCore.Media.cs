using System.Buffers.Binary;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OspBridge.Crypto.Dtls;
using OspBridge.WebRtc.Rtp;
using OspBridge.WebRtc.Rtp.Rtcp;
using OspBridge.WebRtc.Sdp;
using OspBridge.WebRtc.Srtp;
using OspBridge.WebRtc.Tracks;

namespace OspBridge.WebRtc;

/// <summary>
/// Media half of the core: RTP transceivers (one per audio/video m-section), SRTP/SRTCP keyed from the DTLS
/// exporter, RFC 7983 demux of RTP/RTCP (only from the validated ICE pair), RFC 8843 §9.2 routing (mid header
/// extension, then SSRC table, then payload type), a NACK retransmission history per sender, PLI/FIR → keyframe
/// request events, and RTCP compound reports (SR/RR + SDES CNAME) on a deadline.
/// </summary>
public sealed partial class PeerConnectionCore
{
    /// <summary>Largest RTP packet (header + payload) we send; one SRTP packet then fits a 1280-octet IPv6 path.</summary>
    public const int MaxRtpPacketSize = 1200;

    /// <summary>Most RTP packets queued for sending over all transceivers (more is dropped and counted).</summary>
    public const int MaxQueuedRtp = 384;

    /// <summary>Most decrypted RTP packets queued per receiver before the oldest is dropped.</summary>
    public const int MaxReceiveQueue = 512;

    /// <summary>Packets kept per sender for NACK retransmission (must exceed <see cref="MaxQueuedRtp"/>).</summary>
    public const int RetransmitHistory = 512;

    /// <summary>Interval of our RTCP compound reports.</summary>
    public static readonly TimeSpan RtcpInterval = TimeSpan.FromMilliseconds(500);

    private const int MaxTransceivers = 32;
    private const int MaxSsrcRoutes = 64;
    private const int MaxQueuedRtcp = 64;

    private readonly List<MediaSection> _sections = [];
    private readonly Queue<(MediaSection Section, ushort Seq)> _rtpOut = new();
    private readonly Queue<byte[]> _rtcpOut = new();
    private readonly Dictionary<uint, MediaSection> _ssrcRoutes = [];
    private readonly byte[] _rtcpScratch = new byte[1500];
    private SrtpContext? _srtpOut;
    private SrtpContext? _srtpIn;
    private TimeSpan? _nextRtcp;
    private string _cname = "";

    /// <summary>Number of RTP transceivers (audio/video m-sections, ours and the peer's).</summary>
    public int TransceiverCount => _sections.Count;

    /// <summary>The negotiated SRTP protection profile, once DTLS is connected with use_srtp.</summary>
    public SrtpProtectionProfile? SrtpProfile => _srtpOut?.Profile;

    /// <summary>RTP/RTCP packets dropped: before SRTP keys exist, failed SRTP authentication/replay, or no transceiver matched.</summary>
    public long MediaDropped { get; private set; }

    /// <summary>RTP packets not queued because the send queue was full.</summary>
    public long RtpSendQueueDrops { get; private set; }

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

    /// <summary>Changes the direction we want for transceiver <paramref name="index"/> (applies with the next offer/answer).</summary>
    public void SetDirection(int index, RTCRtpTransceiverDirection direction) => Section(index).Direction = direction;

    /// <summary>A snapshot of transceiver <paramref name="index"/>: mid, kind, directions, negotiated codec, SSRCs and counters.</summary>
    public RtpTransceiverInfo GetTransceiver(int index)
    {
        var s = Section(index);
        return new RtpTransceiverInfo(s.Index, s.Mid, s.Kind, s.Direction, s.CurrentDirection, s.Codec, s.LocalSsrc,
            [.. s.RemoteSsrcs], s.Stats with { });
    }

    /// <summary>
    /// Queues one RTP packet on transceiver <paramref name="index"/>: the core writes the header (negotiated payload
    /// type, our SSRC, next sequence number, <paramref name="rtpTimestamp"/> plus the sender's random offset, the mid
    /// extension when negotiated), keeps it for NACK and protects it with SRTP when it is polled. Returns false (and
    /// counts) when the transceiver may not send yet (no SRTP, direction, no codec) or the queue is full.
    /// </summary>
    public bool SendRtp(int index, ReadOnlySpan<byte> payload, uint rtpTimestamp, bool marker, TimeSpan now)
    {
        var s = Section(index);
        if (_closed || _srtpOut is null || s.Codec is null || !s.CurrentDirection.Sends()) return false;
        if (payload.Length > MaxRtpPacketSize - 12 - 8) throw new WebRtcException(WebRtcError.MessageTooLarge, "RTP payload larger than " + (MaxRtpPacketSize - 20));
        if (_rtpOut.Count >= MaxQueuedRtp) { RtpSendQueueDrops++; s.Stats.SendQueueDrops++; return false; }
        ushort seq = s.NextSeq++;
        var slot = s.HistorySlot(seq);
        var header = new RtpHeader
        {
            Marker = marker,
            PayloadType = (byte)s.Codec.PayloadType,
            SequenceNumber = seq,
            Timestamp = rtpTimestamp + s.TimestampOffset,
            Ssrc = s.LocalSsrc,
            ExtensionProfile = RtpExtensionReader.OneByteProfile,
        };
        Span<byte> extBuf = stackalloc byte[20];
        Span<byte> midBytes = stackalloc byte[16];
        ReadOnlySpan<byte> ext = extBuf[..0];
        if (s.MidExtensionId > 0 && s.Mid is { Length: > 0 and <= 16 } mid && Encoding.ASCII.GetByteCount(mid) == mid.Length)
        {
            var w = new RtpExtensionWriter(extBuf);
            Encoding.ASCII.GetBytes(mid, midBytes);
            if (w.TryAdd((byte)s.MidExtensionId, midBytes[..mid.Length])) ext = w.Finish();
        }
        if (!header.TryWrite(slot.Data, default, ext, out int hl) || hl + payload.Length > slot.Data.Length) return false;
        payload.CopyTo(slot.Data.AsSpan(hl));
        slot.Length = hl + payload.Length;
        slot.Seq = seq;
        slot.Valid = true;
        s.LastRtpTimestamp = header.Timestamp;
        s.LastRtpTime = now;
        s.SentAny = true;
        s.Stats.PacketsSent++;
        s.Stats.BytesSent += payload.Length;
        _rtpOut.Enqueue((s, seq));
        _nextRtcp ??= now + TimeSpan.FromMilliseconds(100);
        return true;
    }

    /// <summary>
    /// Takes the next received (decrypted, routed) RTP packet of transceiver <paramref name="index"/> into
    /// <paramref name="destination"/>; false when none is queued or it does not fit.
    /// </summary>
    public bool TryReadRtp(int index, Span<byte> destination, out int length)
    {
        var s = Section(index);
        length = 0;
        if (!s.ReceiveQueue.TryPeek(out var p))
        {
            s.ReceiveNotified = false;
            return false;
        }
        if (p.Length > destination.Length) return false;
        s.ReceiveQueue.Dequeue();
        p.CopyTo(destination);
        length = p.Length;
        if (s.ReceiveQueue.Count == 0) s.ReceiveNotified = false;
        return true;
    }

    /// <summary>Queues a PLI (RFC 4585 §6.3.1) for the peer's stream on transceiver <paramref name="index"/>; false when nothing is received yet.</summary>
    public bool RequestKeyframe(int index)
    {
        var s = Section(index);
        if (_srtpOut is null || s.RemoteSsrcs.Count == 0) return false;
        Span<byte> b = stackalloc byte[PictureLossIndication.Size];
        if (!PictureLossIndication.TryWrite(b, s.LocalSsrc, s.RemoteSsrcs[0], out int n)) return false;
        QueueRtcp(b[..n]);
        return true;
    }

    private MediaSection Section(int index) =>
        (uint)index < (uint)_sections.Count ? _sections[index] : throw new WebRtcException(WebRtcError.InvalidArgument, $"no transceiver {index}");

    private MediaSection NewSection(MediaKind kind, RTCRtpTransceiverDirection direction)
    {
        var random = _options.Random ?? SystemRandom;
        Span<byte> r = stackalloc byte[10];
        random.GetBytes(r);
        return new MediaSection(_sections.Count, kind, direction)
        {
            LocalSsrc = BinaryPrimitives.ReadUInt32BigEndian(r) | 1,
            NextSeq = (ushort)(BinaryPrimitives.ReadUInt16BigEndian(r[4..]) & 0x7fff),
            TimestampOffset = BinaryPrimitives.ReadUInt32BigEndian(r[6..]),
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
                s.Rejected = m.Port == 0 || !Bundled(m);
                s.Codec = s.Rejected ? null : RtpCodecNegotiation.Select(kind, s.Offered);
                if (s.Codec is null) s.Rejected = true;
                s.MidExtensionId = s.Rejected ? 0 : RtpCodecNegotiation.MidExtensionId(m);
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
                s.MidExtensionId = s.Rejected ? 0 : RtpCodecNegotiation.MidExtensionId(m);
                s.CurrentDirection = s.Rejected ? RTCRtpTransceiverDirection.Inactive : s.RemoteDirection.Reverse();
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
            var codecs = isAnswer ? (s.Codec is null ? [] : [s.Codec]) : s.Codec is null ? RtpCodecNegotiation.LocalCodecs(s.Kind) : [s.Codec];
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
                m.Attributes.Add(new SdpAttribute("ssrc", ssrc + " cname:" + _cname));
                m.Attributes.Add(new SdpAttribute("ssrc", ssrc + " msid:" + msid));
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
        if (s is null) { MediaDropped++; return; }
        s.OnReceived(h, now);
        if (s.ReceiveQueue.Count >= MaxReceiveQueue) { s.ReceiveQueue.Dequeue(); s.Stats.ReceiveQueueDrops++; }
        s.ReceiveQueue.Enqueue(packet.ToArray());
        _nextRtcp ??= now + TimeSpan.FromMilliseconds(100);
        if (!s.ReceiveNotified)
        {
            s.ReceiveNotified = true;
            Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.RtpReceived, Transceiver: s.Index));
        }
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
                if (x.Codec?.PayloadType != h.PayloadType || x.Rejected || !x.CurrentDirection.Receives()) continue;
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

    private static bool AsciiEquals(ReadOnlySpan<byte> value, string s)
    {
        for (int i = 0; i < value.Length; i++) if (value[i] != s[i]) return false;
        return true;
    }

    private void HandleRtcp(ReadOnlySpan<byte> compound, TimeSpan now)
    {
        var reader = new RtcpCompoundReader(compound);
        Span<ushort> lost = stackalloc ushort[256];
        while (reader.TryRead(out var header, out var packet))
        {
            switch ((RtcpPacketType)header.PacketType)
            {
                case RtcpPacketType.SenderReport when SenderReport.TryRead(packet, out var sr):
                    if (_ssrcRoutes.TryGetValue(sr.Ssrc, out var rs))
                    {
                        rs.LastSrMiddle = (uint)(sr.NtpTimestamp >> 16);
                        rs.LastSrArrival = now;
                    }
                    break;
                case RtcpPacketType.TransportFeedback when header.Count == GenericNack.Format && GenericNack.TryRead(packet, out var nack):
                {
                    var s = SenderOf(nack.Header.MediaSsrc);
                    if (s is null) break;
                    s.Stats.NackReceived++;
                    int n = nack.CopyLostSequenceNumbers(lost);
                    for (int i = 0; i < n; i++)
                    {
                        var slot = s.FindHistory(lost[i]);
                        if (slot is null || _rtpOut.Count >= MaxQueuedRtp) continue;
                        _rtpOut.Enqueue((s, lost[i]));
                        s.Stats.Retransmitted++;
                    }
                    break;
                }
                case RtcpPacketType.PayloadFeedback when header.Count == PictureLossIndication.Format && PictureLossIndication.TryRead(packet, out var pli):
                    KeyframeRequest(SenderOf(pli.MediaSsrc), isFir: false);
                    break;
                case RtcpPacketType.PayloadFeedback when header.Count == FullIntraRequest.Format && FullIntraRequest.TryRead(packet, out var fir):
                    for (int i = 0; i < fir.EntryCount; i++) KeyframeRequest(SenderOf(fir.Entry(i).Ssrc), isFir: true);
                    break;
            }
        }
    }

    private void KeyframeRequest(MediaSection? s, bool isFir)
    {
        if (s is null) return;
        if (isFir) s.Stats.FirReceived++; else s.Stats.PliReceived++;
        Enqueue(new PeerConnectionEvent(PeerConnectionEventKind.KeyframeRequested, Transceiver: s.Index));
    }

    private MediaSection? SenderOf(uint ssrc)
    {
        foreach (var s in _sections) if (s.LocalSsrc == ssrc) return s;
        return null;
    }

    private void QueueRtcp(ReadOnlySpan<byte> rtcp)
    {
        if (_rtcpOut.Count >= MaxQueuedRtcp) return;
        _rtcpOut.Enqueue(rtcp.ToArray());
    }

    /// <summary>Writes the next media datagram (RTCP first, then RTP), SRTP-protected; false when none is due.</summary>
    private bool TryPollMedia(Span<byte> destination, out int length)
    {
        length = 0;
        if (_srtpOut is null) return false;
        while (_rtcpOut.TryDequeue(out var rtcp))
        {
            if (destination.Length < rtcp.Length + _srtpOut.RtcpOverhead) continue;
            rtcp.CopyTo(destination);
            if (_srtpOut.TryProtectRtcp(destination, rtcp.Length, out length)) return true;
        }
        while (_rtpOut.TryDequeue(out var item))
        {
            var slot = item.Section.FindHistory(item.Seq);
            if (slot is null || destination.Length < slot.Length + _srtpOut.RtpTagLength) continue;
            slot.Data.AsSpan(0, slot.Length).CopyTo(destination);
            if (_srtpOut.TryProtectRtp(destination, slot.Length, out length)) return true;
        }
        return false;
    }

    /// <summary>Builds one compound report per active transceiver: SR (when sending) or RR, then SDES CNAME (RFC 3550 §6.1).</summary>
    private void HandleRtcpDeadline(TimeSpan now)
    {
        if (_nextRtcp is not { } due || due > now) return;
        _nextRtcp = now + RtcpInterval;
        if (_srtpOut is null) return;
        Span<ReceptionReport> reports = stackalloc ReceptionReport[1];
        var cname = Encoding.ASCII.GetBytes(_cname);
        foreach (var s in _sections)
        {
            if (s.Rejected || s.Codec is null) continue;
            var buf = _rtcpScratch.AsSpan(0, 512);
            int at = 0, nr = 0;
            if (s.LastReceivedSsrc is uint rssrc && s.ReceivedAny)
            {
                reports[0] = s.MakeReport(rssrc, now);
                nr = 1;
            }
            if (s.SentAny && s.CurrentDirection.Sends())
            {
                // NTP-format time on our monotonic clock (RFC 3550 allows any consistent clock): seconds.fraction of now
                ulong ntp = ((ulong)(now.Ticks / TimeSpan.TicksPerSecond) << 32) | (ulong)((now.Ticks % TimeSpan.TicksPerSecond) * (1L << 32) / TimeSpan.TicksPerSecond);
                uint rtpTs = s.LastRtpTimestamp + (uint)((now - s.LastRtpTime).Ticks * s.Codec.ClockRate / TimeSpan.TicksPerSecond);
                if (!SenderReport.TryWrite(buf, s.LocalSsrc, ntp, rtpTs, (uint)s.Stats.PacketsSent, (uint)s.Stats.BytesSent, reports[..nr], out int n)) continue;
                at += n;
            }
            else if (nr > 0)
            {
                if (!ReceiverReport.TryWrite(buf, s.LocalSsrc, reports[..nr], out int n)) continue;
                at += n;
            }
            else continue;
            if (SourceDescription.TryWriteCName(buf[at..], s.LocalSsrc, cname, out int sd)) at += sd;
            QueueRtcp(buf[..at]);
        }
    }
}

/// <summary>Per-transceiver counters (a <c>getStats()</c>-shaped subset of RTCOutboundRtpStreamStats / RTCInboundRtpStreamStats).</summary>
public sealed record RtpStreamStats
{
    /// <summary>RTP packets queued for sending (retransmissions excluded).</summary>
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
    /// <summary>Packets not sent because the queue was full.</summary>
    public long SendQueueDrops { get; set; }
    /// <summary>RTP packets received (after SRTP).</summary>
    public long PacketsReceived { get; set; }
    /// <summary>Payload-and-header octets received.</summary>
    public long BytesReceived { get; set; }
    /// <summary>Packets lost (expected − received, RFC 3550 A.3).</summary>
    public long PacketsLost { get; set; }
    /// <summary>Received packets dropped because the application did not read them.</summary>
    public long ReceiveQueueDrops { get; set; }
    /// <summary>Interarrival jitter in RTP timestamp units (RFC 3550 A.8).</summary>
    public double Jitter { get; set; }
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

/// <summary>One audio/video m-section's state inside the core.</summary>
internal sealed class MediaSection(int index, MediaKind kind, RTCRtpTransceiverDirection direction)
{
    public int Index { get; } = index;
    public MediaKind Kind { get; } = kind;
    public RTCRtpTransceiverDirection Direction { get; set; } = direction;
    public RTCRtpTransceiverDirection CurrentDirection { get; set; } = RTCRtpTransceiverDirection.Inactive;
    public RTCRtpTransceiverDirection RemoteDirection { get; set; } = RTCRtpTransceiverDirection.Inactive;
    public string? Mid { get; set; }
    public bool Added { get; set; }
    public int RemoteLine { get; set; } = -1;
    public bool Rejected { get; set; }
    public bool TrackAnnounced { get; set; }
    public IReadOnlyList<RtpCodecDescription> Offered { get; set; } = [];
    public RtpCodecDescription? Codec { get; set; }
    public int MidExtensionId { get; set; }
    public uint LocalSsrc { get; init; }
    public ushort NextSeq { get; set; }
    public uint TimestampOffset { get; init; }
    public string TrackId { get; } = Guid.NewGuid().ToString();
    public List<uint> RemoteSsrcs { get; } = [];
    public Queue<byte[]> ReceiveQueue { get; } = new();
    public bool ReceiveNotified { get; set; }
    public RtpStreamStats Stats { get; } = new();
    public uint LastRtpTimestamp { get; set; }
    public TimeSpan LastRtpTime { get; set; }
    public bool SentAny { get; set; }
    public uint LastSrMiddle { get; set; }
    public TimeSpan LastSrArrival { get; set; }

    // receive statistics (RFC 3550 A.1, A.3, A.8)
    public bool ReceivedAny { get; private set; }
    public uint? LastReceivedSsrc { get; private set; }
    private ushort _maxSeq;
    private uint _cycles;
    private uint _baseSeq;
    private uint _expectedPrior, _receivedPrior;
    private long _received;
    private long _lastTransit;
    private double _jitter;

    private HistoryEntry?[]? _history;

    public sealed class HistoryEntry
    {
        public byte[] Data { get; } = new byte[PeerConnectionCore.MaxRtpPacketSize];
        public int Length { get; set; }
        public ushort Seq { get; set; }
        public bool Valid { get; set; }
    }

    public HistoryEntry HistorySlot(ushort seq)
    {
        _history ??= new HistoryEntry?[PeerConnectionCore.RetransmitHistory];
        ref var e = ref _history[seq % PeerConnectionCore.RetransmitHistory];
        e ??= new HistoryEntry();
        return e;
    }

    public HistoryEntry? FindHistory(ushort seq)
    {
        var e = _history?[seq % PeerConnectionCore.RetransmitHistory];
        return e is { Valid: true } && e.Seq == seq ? e : null;
    }

    public void OnReceived(in RtpHeader h, TimeSpan now)
    {
        Stats.PacketsReceived++;
        if (LastReceivedSsrc != h.Ssrc || !ReceivedAny)
        {
            LastReceivedSsrc = h.Ssrc;
            ReceivedAny = true;
            _maxSeq = h.SequenceNumber;
            _baseSeq = h.SequenceNumber;
            _cycles = 0;
            _received = 0;
            _expectedPrior = _receivedPrior = 0;
            _lastTransit = long.MinValue;
        }
        _received++;
        ushort delta = (ushort)(h.SequenceNumber - _maxSeq);
        if (delta is > 0 and < 0x8000)
        {
            if (h.SequenceNumber < _maxSeq) _cycles += 0x10000;
            _maxSeq = h.SequenceNumber;
        }
        int clock = Codec?.ClockRate ?? 90000;
        long arrival = now.Ticks * clock / TimeSpan.TicksPerSecond;
        long transit = arrival - h.Timestamp;
        if (_lastTransit != long.MinValue)
        {
            long d = Math.Abs(transit - _lastTransit);
            if (d < int.MaxValue) _jitter += (d - _jitter) / 16.0;
        }
        _lastTransit = transit;
        Stats.Jitter = _jitter;
        uint expected = _cycles + _maxSeq - _baseSeq + 1;
        Stats.PacketsLost = Math.Max(0, expected - _received);
    }

    public ReceptionReport MakeReport(uint ssrc, TimeSpan now)
    {
        uint extMax = _cycles + _maxSeq;
        uint expected = extMax - _baseSeq + 1;
        long lost = expected - _received;
        uint expectedInterval = expected - _expectedPrior;
        long receivedInterval = _received - _receivedPrior;
        _expectedPrior = expected;
        _receivedPrior = (uint)_received;
        long lostInterval = expectedInterval - receivedInterval;
        byte fraction = expectedInterval == 0 || lostInterval <= 0 ? (byte)0 : (byte)Math.Min(255, (lostInterval << 8) / expectedInterval);
        uint dlsr = LastSrMiddle == 0 ? 0 : (uint)Math.Min(uint.MaxValue, (now - LastSrArrival).Ticks * 65536 / TimeSpan.TicksPerSecond);
        return new ReceptionReport(ssrc, fraction, (int)Math.Clamp(lost, -0x800000, 0x7fffff), extMax, (uint)_jitter, LastSrMiddle, dlsr);
    }
}
