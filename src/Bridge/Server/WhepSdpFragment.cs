namespace OspBridge.Bridge.Server;

/// <summary>One trickled candidate of a <see cref="WhepSdpFragment"/> (null <see cref="Candidate"/>: end-of-candidates of that section).</summary>
/// <param name="Candidate">The <c>candidate:…</c> attribute value (without <c>a=</c>), or null for <c>a=end-of-candidates</c>.</param>
/// <param name="Mid">The <c>a=mid</c> of its media section, if the fragment named one.</param>
/// <param name="MLineIndex">The index of its <c>m=</c> line within the fragment.</param>
internal readonly record struct WhepTrickledCandidate(string? Candidate, string? Mid, int MLineIndex);

/// <summary>
/// The body of a WHIP/WHEP trickle or ICE-restart PATCH: an SDP fragment (RFC 8840 §4.4,
/// <c>application/trickle-ice-sdpfrag</c>):
/// <code>
/// a=ice-ufrag:EsAw              (session level, optional)
/// a=ice-pwd:P2uYro0UCOQ4zxjKXaWCBui1
/// m=audio 9 UDP/TLS/RTP/SAVPF 0  (one per media section the candidates belong to)
/// a=mid:0
/// a=candidate:1 1 udp 2130706431 192.0.2.7 51000 typ host
/// a=end-of-candidates
/// </code>
/// Only these lines (and <c>a=ice-options</c>, <c>a=group</c>, <c>c=</c>) are allowed; limits are checked before
/// anything is kept. <see cref="TryParse"/> never throws on bad input.
/// </summary>
internal sealed class WhepSdpFragment
{
    /// <summary>Largest fragment accepted (bytes of text).</summary>
    public const int MaxLength = 16 * 1024;

    /// <summary>Most candidates (and end-of-candidates) per fragment.</summary>
    public const int MaxCandidates = 64;

    /// <summary>Longest line.</summary>
    public const int MaxLineLength = 1024;

    private WhepSdpFragment(string? ufrag, string? pwd, List<WhepTrickledCandidate> candidates)
    {
        IceUfrag = ufrag;
        IcePwd = pwd;
        Candidates = candidates;
    }

    /// <summary>The client's ICE username fragment (a different one than the offer's means ICE restart).</summary>
    public string? IceUfrag { get; }

    /// <summary>The client's ICE password.</summary>
    public string? IcePwd { get; }

    /// <summary>Candidates and end-of-candidates markers, in order.</summary>
    public IReadOnlyList<WhepTrickledCandidate> Candidates { get; }

    /// <summary>Parses <paramref name="text"/>; false with a reason (for a 400) when it is not a trickle fragment.</summary>
    public static bool TryParse(string? text, out WhepSdpFragment? fragment, out string? error)
    {
        fragment = null;
        if (text is null) { error = "empty fragment"; return false; }
        if (text.Length > MaxLength) { error = $"fragment longer than {MaxLength / 1024} KiB"; return false; }
        string? ufrag = null, pwd = null, mid = null;
        int mIndex = -1;
        var candidates = new List<WhepTrickledCandidate>();
        int start = 0;
        while (start < text.Length)
        {
            int end = text.IndexOf('\n', start);
            if (end < 0) end = text.Length;
            var line = text.AsSpan(start, end - start);
            start = end + 1;
            if (line.Length > 0 && line[^1] == '\r') line = line[..^1];
            if (line.IsEmpty) continue;
            if (line.Length > MaxLineLength) { error = "line too long"; return false; }
            if (line.ContainsAny('\0', '\r')) { error = "control character in a line"; return false; }
            if (line.Length < 2 || line[1] != '=') { error = "not an SDP line: " + Show(line); return false; }
            if (line[0] == 'm')
            {
                mIndex++;
                mid = null;
                if (mIndex >= MaxCandidates) { error = "too many media sections"; return false; }
                continue;
            }
            if (line[0] == 'c') continue;
            if (line[0] != 'a') { error = "unexpected line in a trickle fragment: " + Show(line); return false; }
            var attr = line[2..];
            int colon = attr.IndexOf(':');
            var name = colon < 0 ? attr : attr[..colon];
            var value = colon < 0 ? ReadOnlySpan<char>.Empty : attr[(colon + 1)..].Trim();
            switch (name)
            {
                case "ice-ufrag":
                    if (!IsIceChars(value, 4, 256)) { error = "bad ice-ufrag"; return false; }
                    if (ufrag is not null && !value.SequenceEqual(ufrag)) { error = "two different ice-ufrag"; return false; }
                    ufrag = value.ToString();
                    break;
                case "ice-pwd":
                    if (!IsIceChars(value, 22, 256)) { error = "bad ice-pwd"; return false; }
                    pwd = value.ToString();
                    break;
                case "mid":
                    if (mIndex < 0) { error = "a=mid before any m= line"; return false; }
                    if (value.IsEmpty || value.Length > 64) { error = "bad mid"; return false; }
                    mid = value.ToString();
                    break;
                case "candidate":
                    if (candidates.Count >= MaxCandidates) { error = $"more than {MaxCandidates} candidates"; return false; }
                    if (!LooksLikeCandidate(value)) { error = "bad candidate: " + Show(line); return false; }
                    candidates.Add(new WhepTrickledCandidate("candidate:" + value.ToString(), mid, Math.Max(mIndex, 0)));
                    break;
                case "end-of-candidates":
                    if (candidates.Count >= MaxCandidates) { error = $"more than {MaxCandidates} candidates"; return false; }
                    candidates.Add(new WhepTrickledCandidate(null, mid, Math.Max(mIndex, 0)));
                    break;
                case "ice-options":
                case "group":
                    break;
                default:
                    error = "unexpected attribute in a trickle fragment: " + Show(line);
                    return false;
            }
        }
        error = null;
        fragment = new WhepSdpFragment(ufrag, pwd, candidates);
        return true;
    }

    /// <summary>RFC 8839 candidate-attribute value after <c>candidate:</c>: foundation, component, transport, priority, address, port, <c>typ</c> type, …</summary>
    private static bool LooksLikeCandidate(ReadOnlySpan<char> value)
    {
        Span<Range> parts = stackalloc Range[9];
        int n = value.Split(parts, ' ', StringSplitOptions.RemoveEmptyEntries);
        if (n < 8) return false;
        return IsIceChars(value[parts[0]], 1, 32)
            && int.TryParse(value[parts[1]], System.Globalization.NumberStyles.None, null, out int component) && component is >= 1 and <= 256
            && uint.TryParse(value[parts[3]], System.Globalization.NumberStyles.None, null, out _)
            && value[parts[4]].Length is > 0 and <= 255
            && int.TryParse(value[parts[5]], System.Globalization.NumberStyles.None, null, out int port) && port is >= 0 and <= 65535
            && value[parts[6]].SequenceEqual("typ");
    }

    /// <summary>ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839), length within bounds.</summary>
    private static bool IsIceChars(ReadOnlySpan<char> value, int min, int max)
    {
        if (value.Length < min || value.Length > max) return false;
        foreach (char c in value)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '+' or '/')) return false;
        return true;
    }

    private static string Show(ReadOnlySpan<char> line) => line.Length > 64 ? line[..64].ToString() + "…" : line.ToString();
}
