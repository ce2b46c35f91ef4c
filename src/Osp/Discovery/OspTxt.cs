using System.Buffers.Text;
using OspBridge.Net.Dns;
using OspBridge.Net.Wire;

namespace OspBridge.Osp.Discovery;

/// <summary>
/// The TXT keys of an OSP agent's <c>_openscreen._udp</c> record: <c>fp</c> (agent fingerprint, base64 of
/// SHA-256(SPKI), 44 characters), <c>mv</c> (metadata version as QUIC varint bytes), <c>at</c>
/// (auth-initiation token, charset [A-Za-z0-9+/]) and <c>sn</c> (certificate serial, base64url without
/// padding; proposed by OSP PR #360, needed for the agent hostname / SNI).
/// </summary>
/// <param name="Fingerprint">The <c>fp</c> value.</param>
/// <param name="MetadataVersion">The <c>mv</c> value.</param>
/// <param name="AuthToken">The <c>at</c> value.</param>
/// <param name="SerialNumber">The <c>sn</c> value (base64url text), or null when absent.</param>
public sealed record OspTxt(string Fingerprint, ulong MetadataVersion, string AuthToken, string? SerialNumber)
{
    /// <summary>Fewest <c>at</c> characters accepted: 6 × 6 bits ≥ the spec's 32 bits of entropy.</summary>
    public const int MinAuthTokenLength = 6;

    /// <summary>Builds the TXT properties.</summary>
    public TxtProperties ToProperties()
    {
        var mv = new byte[QuicVarint.GetEncodedLength(MetadataVersion)];
        QuicVarint.TryWrite(mv, MetadataVersion, out _);
        var p = new TxtProperties().Set("fp", Fingerprint).Set("mv", mv).Set("at", AuthToken);
        if (SerialNumber is not null) p.Set("sn", SerialNumber);
        return p;
    }

    /// <summary>Validates and parses TXT properties; on failure returns null and says why.</summary>
    public static OspTxt? TryParse(TxtProperties txt, out string? error)
    {
        error = null;
        string? fp = txt.GetString("fp");
        if (fp is null) return Fail("missing fp", out error);
        Span<byte> hash = stackalloc byte[33];
        if (fp.Length != 44 || !Convert.TryFromBase64String(fp, hash, out int n) || n != 32)
            return Fail($"fp is not 44-character base64 of 32 octets: '{fp}'", out error);
        if (!txt.TryGetValue("mv", out var mvBytes) || mvBytes is null || mvBytes.Length == 0)
            return Fail("missing mv", out error);
        if (!QuicVarint.TryRead(mvBytes, out ulong mv, out int used) || used != mvBytes.Length)
            return Fail($"mv is not one QUIC varint: {Convert.ToHexString(mvBytes)}", out error);
        string? at = txt.GetString("at");
        if (at is null) return Fail("missing at", out error);
        if (at.Length < MinAuthTokenLength || !at.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '/'))
            return Fail($"at must be ≥ {MinAuthTokenLength} characters of [A-Za-z0-9+/]", out error);
        string? sn = null;
        if (txt.TryGetValue("sn", out var snBytes))
        {
            sn = snBytes is null ? "" : System.Text.Encoding.ASCII.GetString(snBytes);
            if (sn.Length == 0 || sn.Length > 80 || sn.Contains('=') || !Base64Url.IsValid(sn, out int len) || len is 0 or > 21)
                return Fail($"sn is not base64url of a serial number: '{sn}'", out error);
        }
        return new OspTxt(fp, mv, at, sn);
    }

    private static OspTxt? Fail(string why, out string? error)
    {
        error = why;
        return null;
    }
}
