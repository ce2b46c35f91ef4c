using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace OspBridge.Bridge.Server;

/// <summary>One browser token as the API lists it (never the token itself).</summary>
/// <param name="Id">Short id used to revoke it.</param>
/// <param name="Name">What the browser called itself at login (user agent, trimmed).</param>
/// <param name="Created">When it was issued.</param>
internal sealed record BrowserTokenView(string Id, string Name, DateTimeOffset Created);

/// <summary>
/// The bridge's credentials: one admin token (from <c>--token</c>, or generated with a CSPRNG and kept in
/// <c>&lt;state-dir&gt;/bridge/admin-token</c>, mode 0600) and per-browser tokens issued at login (only their SHA-256
/// is stored, in <c>&lt;state-dir&gt;/bridge/browsers.json</c>), each revocable on its own.
/// </summary>
internal sealed class BridgeTokens
{
    /// <summary>Most browser tokens kept (a new login beyond it evicts the oldest).</summary>
    internal const int MaxBrowsers = 256;
    private readonly Lock _gate = new();
    private readonly string? _browsersFile;
    private readonly byte[] _admin;
    private readonly List<Entry> _browsers = [];
    private readonly TimeProvider _time;

    private BridgeTokens(string adminToken, string? browsersFile, TimeProvider time)
    {
        AdminToken = adminToken;
        _admin = Encoding.UTF8.GetBytes(adminToken);
        _browsersFile = browsersFile;
        _time = time;
        if (browsersFile is not null && File.Exists(browsersFile))
        {
            try
            {
                var list = JsonSerializer.Deserialize<List<Entry>>(File.ReadAllText(browsersFile));
                if (list is not null) _browsers.AddRange(list.Where(e => e.Hash is { Length: 64 } && e.Id is { Length: > 0 }).Take(MaxBrowsers));
            }
            catch (JsonException)
            {
                // a corrupt file loses the browser logins (they log in again with the admin token), never the admin token
            }
        }
    }

    /// <summary>
    /// Raised (outside the lock) with the id of each browser token that stopped being valid: revoked, or the oldest
    /// login evicted at <see cref="MaxBrowsers"/>. The server ends that token's open streams (<see cref="OpenStreams"/>).
    /// </summary>
    public event Action<string>? Revoked;

    /// <summary>The admin token (printed in the admin URL).</summary>
    public string AdminToken { get; }

    /// <summary>
    /// Opens the tokens of <paramref name="stateDirectory"/>: <paramref name="adminToken"/> when given (not stored), else the stored
    /// one, else a new one (32 random bytes, base64url) stored with mode 0600.
    /// </summary>
    public static BridgeTokens Open(string? stateDirectory, string? adminToken, TimeProvider? time = null)
    {
        string? dir = stateDirectory is null ? null : Path.Combine(stateDirectory, "bridge");
        if (dir is not null) Directory.CreateDirectory(dir);
        if (adminToken is null)
        {
            string? file = dir is null ? null : Path.Combine(dir, "admin-token");
            if (file is not null && File.Exists(file)) adminToken = File.ReadAllText(file).Trim();
            if (string.IsNullOrEmpty(adminToken))
            {
                adminToken = NewSecret();
                if (file is not null) WritePrivate(file, adminToken + "\n");
            }
        }
        return new BridgeTokens(adminToken, dir is null ? null : Path.Combine(dir, "browsers.json"), time ?? TimeProvider.System);
    }

    /// <summary>A new 256-bit secret from the CSPRNG, base64url without padding (URL-, header- and cookie-safe).</summary>
    public static string NewSecret(int bytes = 32) => Base64Url(RandomNumberGenerator.GetBytes(bytes));

    /// <summary>True for the admin token or a browser token not revoked (constant-time for the admin token).</summary>
    public bool IsValid(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 256) return false;
        if (CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), _admin)) return true;
        string hash = Hash(token);
        lock (_gate) return _browsers.Exists(e => e.Hash == hash);
    }

    /// <summary>True when <paramref name="token"/> is the admin token (constant-time).</summary>
    public bool IsAdmin(string? token) =>
        !string.IsNullOrEmpty(token) && token.Length <= 256 && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(token), _admin);

    /// <summary>The id of browser token <paramref name="token"/> (what <see cref="Revoke"/> takes), or null (admin, unknown).</summary>
    public string? IdOf(string? token)
    {
        if (string.IsNullOrEmpty(token) || token.Length > 256) return null;
        string hash = Hash(token);
        lock (_gate) return _browsers.Find(e => e.Hash == hash)?.Id;
    }

    /// <summary>Issues a browser token (the caller already proved the admin token or another browser token).</summary>
    public (string Token, BrowserTokenView View) Issue(string name)
    {
        string token = NewSecret();
        var entry = new Entry { Id = NewSecret(6), Hash = Hash(token), Name = Trim(name), Created = _time.GetUtcNow() };
        string? evicted = null;
        lock (_gate)
        {
            if (_browsers.Count >= MaxBrowsers)
            {
                evicted = _browsers[0].Id; // the oldest login goes
                _browsers.RemoveAt(0);
            }
            _browsers.Add(entry);
            Save();
        }
        if (evicted is not null) Revoked?.Invoke(evicted);
        return (token, View(entry));
    }

    /// <summary>The browser tokens issued and not revoked.</summary>
    public IReadOnlyList<BrowserTokenView> List()
    {
        lock (_gate) return _browsers.Select(View).ToList();
    }

    /// <summary>Revokes browser token <paramref name="id"/>; false when there is none.</summary>
    public bool Revoke(string id)
    {
        lock (_gate)
        {
            if (_browsers.RemoveAll(e => e.Id == id) == 0) return false;
            Save();
        }
        Revoked?.Invoke(id);
        return true;
    }

    private static BrowserTokenView View(Entry e) => new(e.Id!, e.Name ?? "", e.Created);

    private static string Trim(string name)
    {
        var clean = new string(name.Where(c => !char.IsControl(c)).Take(80).ToArray()).Trim();
        return clean.Length == 0 ? "browser" : clean;
    }

    private void Save()
    {
        if (_browsersFile is null) return;
        WritePrivate(_browsersFile, JsonSerializer.Serialize(_browsers));
    }

    private static void WritePrivate(string path, string text)
    {
        string tmp = path + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var f = new FileStream(tmp, options))
        using (var w = new StreamWriter(f, new UTF8Encoding(false)))
            w.Write(text);
        File.Move(tmp, path, overwrite: true);
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private sealed class Entry
    {
        public string? Id { get; set; }
        public string? Hash { get; set; }
        public string? Name { get; set; }
        public DateTimeOffset Created { get; set; }
    }
}
