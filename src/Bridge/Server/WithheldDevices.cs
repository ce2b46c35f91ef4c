using System.Text.Json;

namespace OspBridge.Bridge.Server;

/// <summary>
/// Paired devices the bridge must not use: the user revoked the bridge's own LP2P grant (<c>ospbridge</c>) on them
/// (<c>DELETE /api/devices/{id}/grants?app=ospbridge</c>). The pairing stays — nobody types a PIN again — but the
/// bridge closes its session and opens none (no pre-connect, 403 on use) until <c>POST /api/devices/{id}/pair</c>
/// grants it again; without this list the next connection would re-record the grant at once (naming the device is
/// the bridge's grant). Kept as fingerprints in <c>&lt;state-dir&gt;/bridge/withheld-devices.json</c> (mode 0600),
/// so a restart does not undo it; a corrupt file is read as empty.
/// </summary>
internal sealed class WithheldDevices
{
    private const int MaxEntries = 100_000;
    private readonly Lock _gate = new();
    private readonly string? _file;
    private readonly HashSet<string> _fingerprints = new(StringComparer.Ordinal);

    public WithheldDevices(string? stateDirectory)
    {
        _file = stateDirectory is null ? null : Path.Combine(stateDirectory, "bridge", "withheld-devices.json");
        if (_file is null || !File.Exists(_file)) return;
        try
        {
            var list = JsonSerializer.Deserialize<List<string>>(File.ReadAllText(_file));
            if (list is not null) _fingerprints.UnionWith(list.Where(f => f is { Length: > 0 and <= 128 }).Take(MaxEntries));
        }
        catch (Exception ex) when (ex is JsonException or IOException or UnauthorizedAccessException)
        {
            // read as empty: the worst case is the bridge using a device the user had withheld, as before this list existed
        }
    }

    /// <summary>True when the bridge must not use device <paramref name="fingerprint"/>.</summary>
    public bool Contains(string fingerprint)
    {
        lock (_gate) return _fingerprints.Contains(fingerprint);
    }

    /// <summary>Withholds the device; false when it already was.</summary>
    public bool Add(string fingerprint)
    {
        lock (_gate)
        {
            if (_fingerprints.Count >= MaxEntries || !_fingerprints.Add(fingerprint)) return false;
            Save();
            return true;
        }
    }

    /// <summary>Lets the bridge use the device again; false when it was not withheld.</summary>
    public bool Remove(string fingerprint)
    {
        lock (_gate)
        {
            if (!_fingerprints.Remove(fingerprint)) return false;
            Save();
            return true;
        }
    }

    private void Save()
    {
        if (_file is null) return;
        Directory.CreateDirectory(Path.GetDirectoryName(_file)!);
        string tmp = _file + ".tmp";
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var f = new FileStream(tmp, options))
            JsonSerializer.Serialize(f, _fingerprints.Order(StringComparer.Ordinal).ToList());
        File.Move(tmp, _file, overwrite: true);
    }
}
