using System.Globalization;

namespace OspBridge.WebRtc.Sdp;

/// <summary>
/// One RTP payload format of an audio/video m-section, assembled from its <c>a=rtpmap</c>, <c>a=fmtp</c> and
/// <c>a=rtcp-fb</c> lines (RFC 8866 §6.6, RFC 4585 §4.2). A static payload type without rtpmap (e.g. <c>0</c> PCMU)
/// gets its RFC 3551 name and clock.
/// </summary>
/// <param name="PayloadType">The payload type number, 0..127.</param>
/// <param name="Name">Encoding name as written (compare case-insensitively), e.g. <c>H264</c>, <c>opus</c>, <c>rtx</c>.</param>
/// <param name="ClockRate">RTP clock rate in Hz.</param>
/// <param name="Channels">Channel count (audio; 0 when absent).</param>
/// <param name="Fmtp">The fmtp parameter string, or null.</param>
/// <param name="Feedback">rtcp-fb values for this payload type (e.g. <c>nack</c>, <c>nack pli</c>, <c>ccm fir</c>), including <c>*</c> ones.</param>
public sealed record RtpCodecDescription(int PayloadType, string Name, int ClockRate, int Channels, string? Fmtp, IReadOnlyList<string> Feedback)
{
    /// <summary>Most payload formats read from one section (the PT space is 0..127).</summary>
    public const int MaxCodecs = 128;

    /// <summary>True when <see cref="Name"/> equals <paramref name="name"/> ignoring case.</summary>
    public bool Is(string name) => string.Equals(Name, name, StringComparison.OrdinalIgnoreCase);

    /// <summary>The value of fmtp parameter <paramref name="key"/> (<c>key=value</c>, <c>;</c>-separated), or null.</summary>
    public string? FmtpParameter(string key)
    {
        if (Fmtp is null) return null;
        foreach (var part in Fmtp.Split(';'))
        {
            var p = part.Trim();
            int eq = p.IndexOf('=', StringComparison.Ordinal);
            if (eq > 0 && string.Equals(p[..eq].Trim(), key, StringComparison.OrdinalIgnoreCase)) return p[(eq + 1)..].Trim();
        }
        return null;
    }

    /// <summary>True when the section offers rtcp-fb <paramref name="value"/> (e.g. <c>nack pli</c>) for this payload type.</summary>
    public bool HasFeedback(string value) => Feedback.Any(f => string.Equals(f, value, StringComparison.OrdinalIgnoreCase));

    /// <summary>The rtpmap value: <c>name/clock[/channels]</c>.</summary>
    public string RtpMap => Channels > 0 ? $"{Name}/{ClockRate.ToString(CultureInfo.InvariantCulture)}/{Channels.ToString(CultureInfo.InvariantCulture)}" : $"{Name}/{ClockRate.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// Reads the payload formats of an audio/video section in m-line order. Formats that are not numbers 0..127, and
    /// dynamic ones without rtpmap, are skipped (RFC 8866 says to ignore what we do not understand).
    /// </summary>
    public static List<RtpCodecDescription> FromMedia(SdpMediaDescription media)
    {
        ArgumentNullException.ThrowIfNull(media);
        var maps = new Dictionary<int, (string Name, int Clock, int Ch)>();
        var fmtps = new Dictionary<int, string>();
        var fbs = new Dictionary<int, List<string>>();
        var wildcard = new List<string>();
        foreach (var a in media.Attributes)
        {
            if (a.Value is null) continue;
            switch (a.Name)
            {
                case "rtpmap":
                    if (TrySplitPt(a.Value, out int pt, out string rest) && TryParseRtpMap(rest, out var m)) maps.TryAdd(pt, m);
                    break;
                case "fmtp":
                    if (TrySplitPt(a.Value, out pt, out rest)) fmtps.TryAdd(pt, rest);
                    break;
                case "rtcp-fb":
                {
                    int sp = a.Value.IndexOf(' ', StringComparison.Ordinal);
                    if (sp <= 0) break;
                    string id = a.Value[..sp], fb = a.Value[(sp + 1)..].Trim();
                    if (fb.Length == 0 || fb.Length > 64) break;
                    if (id == "*") { if (wildcard.Count < 32) wildcard.Add(fb); }
                    else if (TryPt(id, out pt))
                    {
                        if (!fbs.TryGetValue(pt, out var l)) fbs[pt] = l = [];
                        if (l.Count < 32) l.Add(fb);
                    }
                    break;
                }
            }
        }
        var result = new List<RtpCodecDescription>();
        var seen = new HashSet<int>();
        foreach (var f in media.Formats)
        {
            if (!TryPt(f, out int pt) || !seen.Add(pt) || result.Count >= MaxCodecs) continue;
            if (!maps.TryGetValue(pt, out var map) && !TryStatic(pt, out map)) continue;
            var feedback = new List<string>(wildcard);
            if (fbs.TryGetValue(pt, out var l)) feedback.AddRange(l);
            result.Add(new RtpCodecDescription(pt, map.Name, map.Clock, map.Ch, fmtps.GetValueOrDefault(pt), feedback));
        }
        return result;
    }

    /// <summary>Writes this format's rtpmap, rtcp-fb and fmtp attributes (in Chromium's order) to <paramref name="media"/>.</summary>
    public void WriteTo(SdpMediaDescription media)
    {
        ArgumentNullException.ThrowIfNull(media);
        string pt = PayloadType.ToString(CultureInfo.InvariantCulture);
        media.Attributes.Add(new SdpAttribute("rtpmap", pt + " " + RtpMap));
        foreach (var fb in Feedback) media.Attributes.Add(new SdpAttribute("rtcp-fb", pt + " " + fb));
        if (Fmtp is not null) media.Attributes.Add(new SdpAttribute("fmtp", pt + " " + Fmtp));
    }

    private static bool TryStatic(int pt, out (string Name, int Clock, int Ch) map)
    {
        map = pt switch
        {
            0 => ("PCMU", 8000, 1),
            8 => ("PCMA", 8000, 1),
            9 => ("G722", 8000, 1),
            _ => default,
        };
        return map.Name is not null;
    }

    private static bool TryPt(string s, out int pt) =>
        int.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out pt) && pt is >= 0 and <= 127;

    private static bool TrySplitPt(string value, out int pt, out string rest)
    {
        int sp = value.IndexOf(' ', StringComparison.Ordinal);
        rest = sp < 0 ? "" : value[(sp + 1)..].Trim();
        pt = -1;
        return sp > 0 && TryPt(value[..sp], out pt) && rest.Length is > 0 and <= 1024;
    }

    private static bool TryParseRtpMap(string text, out (string Name, int Clock, int Ch) map)
    {
        map = default;
        var p = text.Split('/');
        if (p.Length is < 2 or > 3 || p[0].Length is 0 or > 64) return false;
        if (!int.TryParse(p[1], NumberStyles.None, CultureInfo.InvariantCulture, out int clock) || clock is <= 0 or > 10_000_000) return false;
        int ch = 0;
        if (p.Length == 3 && (!int.TryParse(p[2], NumberStyles.None, CultureInfo.InvariantCulture, out ch) || ch is < 1 or > 255)) return false;
        map = (p[0], clock, ch);
        return true;
    }
}
