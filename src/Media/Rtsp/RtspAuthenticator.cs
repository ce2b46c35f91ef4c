using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace OspBridge.Media.Rtsp;

/// <summary>
/// Answers an RTSP server's <c>WWW-Authenticate</c> challenge: Basic (RFC 7617) or Digest with MD5 (RFC 2617, RFC 7616;
/// qop=auth or no qop, which is what cameras send). Digest is preferred when both are offered.
/// </summary>
public sealed class RtspAuthenticator
{
    private readonly string _user;
    private readonly string _password;
    private readonly RandomNumberGenerator _random;
    private string? _scheme;
    private string? _realm;
    private string? _nonce;
    private string? _opaque;
    private bool _qopAuth;
    private int _nonceCount;

    /// <summary>Creates an authenticator for the given credentials.</summary>
    public RtspAuthenticator(string user, string password, RandomNumberGenerator? random = null)
    {
        _user = user;
        _password = password;
        _random = random ?? RandomNumberGenerator.Create();
    }

    /// <summary>True once a challenge was accepted.</summary>
    public bool HasChallenge => _scheme is not null;

    /// <summary>Takes the challenges of a 401 response. False if none is Basic or Digest-MD5.</summary>
    public bool TrySetChallenge(IEnumerable<string> wwwAuthenticate)
    {
        string? basic = null;
        foreach (string challenge in wwwAuthenticate)
        {
            if (challenge.StartsWith("Digest", StringComparison.OrdinalIgnoreCase))
            {
                var p = ParseParameters(challenge["Digest".Length..]);
                string algorithm = p.GetValueOrDefault("algorithm", "MD5");
                if (!string.Equals(algorithm, "MD5", StringComparison.OrdinalIgnoreCase) || !p.TryGetValue("nonce", out string? nonce))
                    continue;
                _scheme = "Digest";
                _realm = p.GetValueOrDefault("realm", "");
                _nonce = nonce;
                _opaque = p.GetValueOrDefault("opaque");
                _qopAuth = p.TryGetValue("qop", out string? qop) && qop.Split(',').Any(q => q.Trim() == "auth");
                _nonceCount = 0;
                return true;
            }
            if (challenge.StartsWith("Basic", StringComparison.OrdinalIgnoreCase))
                basic = challenge;
        }
        if (basic is null)
            return false;
        _scheme = "Basic";
        return true;
    }

    /// <summary>The Authorization header value for a request, or null before a challenge.</summary>
    public string? GetAuthorization(string method, string uri)
    {
        if (_scheme == "Basic")
            return "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes(_user + ":" + _password));
        if (_scheme != "Digest")
            return null;
        string ha1 = Md5Hex($"{_user}:{_realm}:{_password}");
        string ha2 = Md5Hex($"{method}:{uri}");
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"Digest username=\"{_user}\", realm=\"{_realm}\", nonce=\"{_nonce}\", uri=\"{uri}\"");
        if (_qopAuth)
        {
            string nc = (++_nonceCount).ToString("x8", CultureInfo.InvariantCulture);
            string cnonce = FixedClientNonce ?? NewClientNonce();
            string response = Md5Hex($"{ha1}:{_nonce}:{nc}:{cnonce}:auth:{ha2}");
            sb.Append(CultureInfo.InvariantCulture, $", response=\"{response}\", qop=auth, nc={nc}, cnonce=\"{cnonce}\"");
        }
        else
        {
            sb.Append(CultureInfo.InvariantCulture, $", response=\"{Md5Hex($"{ha1}:{_nonce}:{ha2}")}\"");
        }
        if (_opaque is not null)
            sb.Append(CultureInfo.InvariantCulture, $", opaque=\"{_opaque}\"");
        sb.Append(", algorithm=MD5");
        return sb.ToString();
    }

    /// <summary>Tests only: the cnonce to use instead of a random one.</summary>
    internal string? FixedClientNonce { get; set; }

    private string NewClientNonce()
    {
        Span<byte> c = stackalloc byte[8];
        _random.GetBytes(c);
        return Convert.ToHexStringLower(c);
    }

    /// <summary>Digest's MD5 (RFC 2617 requires it; it is not used for anything else).</summary>
#pragma warning disable CA5351 // MD5 is what RTSP Digest authentication (RFC 2617) specifies; cameras speak nothing else.
    internal static string Md5Hex(string s) => Convert.ToHexStringLower(MD5.HashData(Encoding.UTF8.GetBytes(s)));
#pragma warning restore CA5351

    internal static Dictionary<string, string> ParseParameters(string s)
    {
        var result = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        int i = 0;
        while (i < s.Length && result.Count < 32)
        {
            while (i < s.Length && (s[i] == ' ' || s[i] == ','))
                i++;
            int eq = s.IndexOf('=', i);
            if (eq < 0)
                break;
            string name = s[i..eq].Trim();
            i = eq + 1;
            string value;
            if (i < s.Length && s[i] == '"')
            {
                int close = s.IndexOf('"', i + 1);
                if (close < 0)
                    break;
                value = s[(i + 1)..close];
                i = close + 1;
            }
            else
            {
                int comma = s.IndexOf(',', i);
                value = (comma < 0 ? s[i..] : s[i..comma]).Trim();
                i = comma < 0 ? s.Length : comma;
            }
            result[name] = value;
        }
        return result;
    }
}
