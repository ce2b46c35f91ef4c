using OspBridge.WebRtc.Media;
using OspBridge.WebRtc.Sdp;

namespace OspBridge.WebRtc.Tracks;

/// <summary>
/// Payload-format negotiation for audio/video m-sections (RFC 3264 §6.1, RFC 8829 §5.3.1): the answer keeps the
/// offerer's payload type numbers; H.264 needs <c>packetization-mode=1</c> (we send FU-A) and a profile we can
/// carry (RFC 6184 §8.2.2 — Constrained Baseline preferred, <c>level-asymmetry-allowed=1</c> preferred); Opus is
/// preferred over PCMU/PCMA. rtcp-fb: we answer only what we implement (<c>nack</c>, <c>nack pli</c>, <c>ccm fir</c>,
/// <c>goog-remb</c> — we read the peer's REMB; we do not send transport-cc). Video gets RTX (RFC 4588) when offered
/// for the chosen payload type (<see cref="SelectRtx"/>).
/// </summary>
public static class RtpCodecNegotiation
{
    /// <summary>The extmap URI of the BUNDLE mid header extension (RFC 8843 §14.1).</summary>
    public const string MidExtensionUri = "urn:ietf:params:rtp-hdrext:sdes:mid";

    /// <summary>The rtcp-fb values we implement for video.</summary>
    public static IReadOnlyList<string> VideoFeedback { get; } = ["goog-remb", "ccm fir", "nack", "nack pli"];

    /// <summary>
    /// Our offer's codecs for <paramref name="kind"/> (H.264 Constrained Baseline PT 102 + its RTX PT 103, then H.265
    /// Main PT 104 (RFC 7798; level 3.1, main tier, SRST) + its RTX PT 105; Opus 111, PCMU 0, PCMA 8).
    /// </summary>
    public static IReadOnlyList<RtpCodecDescription> LocalCodecs(MediaKind kind) => kind == MediaKind.Video
        ? [new RtpCodecDescription(102, "H264", 90000, 0, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", VideoFeedback),
           new RtpCodecDescription(103, "rtx", 90000, 0, "apt=102", []),
           new RtpCodecDescription(104, "H265", 90000, 0, "level-id=93;profile-id=1;tier-flag=0;tx-mode=SRST", VideoFeedback),
           new RtpCodecDescription(105, "rtx", 90000, 0, "apt=104", [])]
        : [new RtpCodecDescription(111, "opus", 48000, 2, "minptime=10;useinbandfec=1", []),
           new RtpCodecDescription(0, "PCMU", 8000, 0, null, []),
           new RtpCodecDescription(8, "PCMA", 8000, 0, null, [])];

    /// <summary>The codec a format describes, or null when we do not carry it.</summary>
    public static MediaCodec? CodecOf(RtpCodecDescription codec)
    {
        ArgumentNullException.ThrowIfNull(codec);
        if (codec.Is("H264") && codec.ClockRate == 90000) return MediaCodec.H264;
        if (codec.Is("H265") && codec.ClockRate == 90000) return MediaCodec.H265;
        if (codec.Is("opus") && codec.ClockRate == 48000) return MediaCodec.Opus;
        if (codec.Is("PCMU") && codec.ClockRate == 8000) return MediaCodec.Pcmu;
        if (codec.Is("PCMA") && codec.ClockRate == 8000) return MediaCodec.Pcma;
        return null;
    }

    /// <summary>
    /// Picks the format to answer with from an offer's formats, or null when none is acceptable. The result keeps the
    /// offerer's payload type and fmtp; its feedback is the offered feedback we implement.
    /// </summary>
    /// <param name="kind">The section's kind.</param>
    /// <param name="offered">The offered formats (<see cref="RtpCodecDescription.FromMedia"/>), in offer order.</param>
    /// <param name="accept">
    /// The codecs we may use (null = all we support for the kind; H.264 is then preferred over H.265). When it is a list
    /// (W3C <c>setCodecPreferences</c>), earlier codecs win over later ones, e.g. <c>[H265, H264]</c> selects H.265
    /// whenever the offer has it.
    /// </param>
    public static RtpCodecDescription? Select(MediaKind kind, IReadOnlyList<RtpCodecDescription> offered, IReadOnlyCollection<MediaCodec>? accept = null)
    {
        ArgumentNullException.ThrowIfNull(offered);
        RtpCodecDescription? best = null;
        int bestScore = -1;
        var ranked = accept as IReadOnlyList<MediaCodec>;
        foreach (var c in offered)
        {
            if (CodecOf(c) is not { } codec || (accept is not null && !accept.Contains(codec))) continue;
            int score = kind == MediaKind.Video ? VideoScore(c, codec) : AudioScore(codec);
            if (score >= 0 && ranked is not null)
            {
                int rank = 0;
                while (rank < ranked.Count && ranked[rank] != codec) rank++;
                score += (ranked.Count - rank) * 1000;
            }
            if (score > bestScore) { best = c; bestScore = score; }
        }
        if (best is null) return null;
        var fb = kind == MediaKind.Video ? best.Feedback.Where(f => VideoFeedback.Contains(f, StringComparer.OrdinalIgnoreCase)).Distinct(StringComparer.OrdinalIgnoreCase).ToList() : [];
        return best with { Feedback = fb };
    }

    /// <summary>
    /// The RTX format (RFC 4588 §8: <c>rtx/clock</c> with <c>apt=</c> the protected payload type) among
    /// <paramref name="formats"/> for payload type <paramref name="apt"/>, or null.
    /// </summary>
    public static RtpCodecDescription? SelectRtx(IReadOnlyList<RtpCodecDescription> formats, RtpCodecDescription apt)
    {
        ArgumentNullException.ThrowIfNull(formats);
        ArgumentNullException.ThrowIfNull(apt);
        string pt = apt.PayloadType.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var rtx = formats.FirstOrDefault(c => c.Is("rtx") && c.ClockRate == apt.ClockRate && c.FmtpParameter("apt") == pt && c.PayloadType != apt.PayloadType);
        return rtx is null ? null : rtx with { Feedback = [] };
    }

    private static int AudioScore(MediaCodec codec) => codec switch
    {
        MediaCodec.Opus => 3,
        MediaCodec.Pcmu => 2,
        MediaCodec.Pcma => 1,
        _ => -1,
    };

    private static int VideoScore(RtpCodecDescription c, MediaCodec codec)
    {
        // H.265 (RFC 7798): we packetize single NAL / AP / FU and carry any profile the source makes; without a
        // preference it ranks below every usable H.264 (browsers decode H.264 everywhere, H.265 rarely).
        if (codec == MediaCodec.H265) return 1;
        if (codec != MediaCodec.H264 || c.FmtpParameter("packetization-mode") != "1") return -1;
        if (!H264ProfileLevelId.TryParse(c.FmtpParameter("profile-level-id") ?? "42000a", out var pli)) return -1;
        int score = pli.Profile switch
        {
            H264Profile.ConstrainedBaseline => 40,
            H264Profile.Baseline => 30, // a Constrained Baseline stream is a valid Baseline stream
            H264Profile.Main => 20,     // ditto for Main (A.2.1: CB is the common subset)
            H264Profile.ConstrainedHigh or H264Profile.High => 10,
            _ => -1,
        };
        if (score < 0) return -1;
        if (c.FmtpParameter("level-asymmetry-allowed") == "1") score += 5;
        return score;
    }

    /// <summary>The id of the mid header extension in a section's extmap lines, or 0.</summary>
    public static int MidExtensionId(SdpMediaDescription media)
    {
        ArgumentNullException.ThrowIfNull(media);
        foreach (var v in media.GetAttributes("extmap"))
        {
            var p = v.Split(' ');
            if (p.Length < 2 || p[^1] != MidExtensionUri && p[1] != MidExtensionUri) continue;
            var id = p[0];
            int slash = id.IndexOf('/', StringComparison.Ordinal);
            if (slash >= 0) id = id[..slash];
            if (int.TryParse(id, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int n) && n is >= 1 and <= 14) return n;
        }
        return 0;
    }
}
