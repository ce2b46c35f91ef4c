using System.Globalization;
using System.Text;
using OspBridge.WebRtc.Media;

namespace OspBridge.Media.Rtsp;

/// <summary>
/// The media of a DESCRIBE answer (SDP, RFC 8866) that an RTSP client needs: per m-line the payload type, codec,
/// clock rate, channels, <c>a=control</c> and, for H.264, the <c>sprop-parameter-sets</c> SPS/PPS (RFC 6184 §8.1).
/// Limits: ≤ 16 media sections, ≤ 4096 lines.
/// </summary>
public sealed class RtspSessionDescription
{
    /// <summary>Session-level a=control (or null).</summary>
    public string? Control { get; private init; }

    /// <summary>The media sections.</summary>
    public IReadOnlyList<RtspMediaDescription> Media { get; private init; } = [];

    /// <summary>Parses an SDP. Unknown lines are ignored; throws <see cref="MediaException"/> if limits are broken.</summary>
    public static RtspSessionDescription Parse(string sdp)
    {
        var media = new List<RtspMediaDescription>();
        string? sessionControl = null;
        RtspMediaDescription? current = null;
        int lines = 0;
        foreach (string raw in sdp.Split('\n'))
        {
            if (++lines > 4096)
                throw new MediaException(MediaError.LimitExceeded, "SDP has too many lines");
            string line = raw.TrimEnd('\r');
            if (line.Length < 2 || line[1] != '=')
                continue;
            string value = line[2..];
            if (line[0] == 'm')
            {
                if (media.Count >= 16)
                    throw new MediaException(MediaError.LimitExceeded, "SDP has too many media sections");
                var parts = value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                current = new RtspMediaDescription { Kind = parts.Length > 0 ? parts[0] : "" };
                if (parts.Length > 3 && int.TryParse(parts[3], NumberStyles.None, CultureInfo.InvariantCulture, out int pt) && pt < 128)
                    current.PayloadType = pt;
                media.Add(current);
                continue;
            }
            if (line[0] != 'a')
                continue;
            if (current is not null && value is "sendonly" or "recvonly" or "sendrecv" or "inactive")
            {
                current.Direction = value;
            }
            else if (value.StartsWith("control:", StringComparison.OrdinalIgnoreCase))
            {
                string control = value["control:".Length..].Trim();
                if (current is null)
                    sessionControl = control;
                else
                    current.Control = control;
            }
            else if (current is not null && value.StartsWith("rtpmap:", StringComparison.OrdinalIgnoreCase))
            {
                // a=rtpmap:<pt> <encoding>/<clock>[/<channels>]
                var parts = value["rtpmap:".Length..].Split(' ', 2, StringSplitOptions.TrimEntries);
                if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int pt) && pt == current.PayloadType)
                {
                    var enc = parts[1].Split('/');
                    current.EncodingName = enc[0];
                    if (enc.Length > 1 && int.TryParse(enc[1], NumberStyles.None, CultureInfo.InvariantCulture, out int clock))
                        current.ClockRate = clock;
                    if (enc.Length > 2 && int.TryParse(enc[2], NumberStyles.None, CultureInfo.InvariantCulture, out int ch))
                        current.Channels = ch;
                }
            }
            else if (current is not null && value.StartsWith("fmtp:", StringComparison.OrdinalIgnoreCase))
            {
                var parts = value["fmtp:".Length..].Split(' ', 2, StringSplitOptions.TrimEntries);
                if (parts.Length == 2 && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out int pt) && pt == current.PayloadType)
                    current.Fmtp = parts[1];
            }
        }
        foreach (var m in media)
            m.Complete();
        return new RtspSessionDescription { Control = sessionControl, Media = media };
    }

    /// <summary>Parses the SDP body of a DESCRIBE response.</summary>
    public static RtspSessionDescription Parse(ReadOnlySpan<byte> body) => Parse(Encoding.UTF8.GetString(body));
}

/// <summary>One m-line of an RTSP session description.</summary>
public sealed class RtspMediaDescription
{
    /// <summary>"video", "audio"...</summary>
    public string Kind { get; internal set; } = "";

    /// <summary>The first payload type of the m-line.</summary>
    public int PayloadType { get; internal set; } = -1;

    /// <summary>The rtpmap encoding name (H264, opus, PCMU...), or the static payload type's name.</summary>
    public string? EncodingName { get; internal set; }

    /// <summary>RTP clock rate.</summary>
    public int ClockRate { get; internal set; }

    /// <summary>Audio channels (1 when absent).</summary>
    public int Channels { get; internal set; } = 1;

    /// <summary>The a=control value (relative or absolute), or null.</summary>
    public string? Control { get; internal set; }

    /// <summary>
    /// The direction attribute (<c>sendonly</c>, <c>recvonly</c>, <c>sendrecv</c>, <c>inactive</c>) as the server wrote it,
    /// or null. In an ONVIF DESCRIBE answer the camera's own media are <c>recvonly</c> and the back channel — the audio the
    /// client sends — is <c>sendonly</c> (ONVIF Streaming Specification §5.3.1).
    /// </summary>
    public string? Direction { get; internal set; }

    /// <summary>The fmtp parameters of the payload type, or null.</summary>
    public string? Fmtp { get; internal set; }

    /// <summary>The codec we carry for this section, or null if none.</summary>
    public MediaCodec? Codec { get; private set; }

    /// <summary>H.264 SPS from sprop-parameter-sets (no start code), when given.</summary>
    public byte[]? Sps { get; private set; }

    /// <summary>H.264 PPS from sprop-parameter-sets (no start code), when given.</summary>
    public byte[]? Pps { get; private set; }

    internal void Complete()
    {
        if (EncodingName is null)
        {
            // Static payload types (RFC 3551 §6).
            (EncodingName, ClockRate) = PayloadType switch
            {
                0 => ("PCMU", 8000),
                8 => ("PCMA", 8000),
                _ => (null, ClockRate),
            };
        }
        Codec = EncodingName?.ToUpperInvariant() switch
        {
            "H264" when Kind == "video" => MediaCodec.H264,
            "H265" when Kind == "video" => MediaCodec.H265,
            "OPUS" when Kind == "audio" => MediaCodec.Opus,
            "PCMU" when Kind == "audio" => MediaCodec.Pcmu,
            "PCMA" when Kind == "audio" => MediaCodec.Pcma,
            _ => null,
        };
        if (Codec == MediaCodec.H264 && Fmtp is not null)
        {
            foreach (string p in Fmtp.Split(';', StringSplitOptions.TrimEntries))
            {
                if (!p.StartsWith("sprop-parameter-sets=", StringComparison.OrdinalIgnoreCase))
                    continue;
                foreach (string b64 in p["sprop-parameter-sets=".Length..].Split(','))
                {
                    byte[] nal;
                    try
                    {
                        nal = Convert.FromBase64String(b64.Trim());
                    }
                    catch (FormatException)
                    {
                        continue;
                    }
                    if (nal.Length == 0)
                        continue;
                    if ((nal[0] & 0x1F) == 7)
                        Sps = nal;
                    else if ((nal[0] & 0x1F) == 8)
                        Pps = nal;
                }
            }
        }
    }

    /// <summary>The control URL of this section resolved against <paramref name="baseUri"/> (RFC 2326 C.1.1).</summary>
    public string ResolveControl(string baseUri) => Resolve(Control, baseUri);

    internal static string Resolve(string? control, string baseUri)
    {
        if (control is null || control == "*")
            return baseUri;
        if (control.StartsWith("rtsp://", StringComparison.OrdinalIgnoreCase) || control.StartsWith("rtsps://", StringComparison.OrdinalIgnoreCase))
            return control;
        return baseUri.EndsWith('/') ? baseUri + control : baseUri + "/" + control;
    }
}
