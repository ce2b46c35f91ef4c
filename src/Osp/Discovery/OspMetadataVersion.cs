using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OspBridge.Crypto.Storage;

namespace OspBridge.Osp.Discovery;

/// <summary>
/// Keeps the TXT <c>mv</c> metadata version across restarts: the version is stored with a digest of the
/// agent metadata (display name, model name, ...) in <c>osp-discovery-mv.txt</c> in the state directory,
/// and bumped by one whenever the digest changes, so listeners that cached the old agent-info refetch it.
/// The read-modify-write runs under a state lock and writes through <see cref="StateFileWriter"/> (issue 9 item 8:
/// no fixed temp name, no write through a planted symlink); the directory and file modes are checked like every
/// state file (<see cref="StatePermissions"/>).
/// </summary>
public static class OspMetadataVersion
{
    /// <summary>File name inside the state directory.</summary>
    public const string FileName = "osp-discovery-mv.txt";

    private const string LockFileName = "osp-discovery-mv.lock";

    /// <summary>Returns the metadata version for <paramref name="metadata"/> (bumped and persisted when it changed).</summary>
    public static ulong LoadOrBump(string stateDirectory, params string[] metadata)
    {
        string digest = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\u001f', metadata))));
        string path = Path.Combine(stateDirectory, FileName);
        StatePermissions.Prepare(stateDirectory);
        using var stateLock = StateLock.Acquire(Path.Combine(stateDirectory, LockFileName));
        StateFileWriter.RemoveStaleTempFiles(stateDirectory, FileName);
        ulong version = 0;
        string? oldDigest = null;
        if (File.Exists(path))
        {
            var parts = StatePermissions.ReadAllText(path, 4096).Trim().Split(' ');
            if (parts.Length == 2 && ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) && v < (1UL << 62))
            {
                version = v;
                oldDigest = parts[1];
            }
        }
        if (oldDigest == digest) return version;
        if (oldDigest is not null) version++;
        StateFileWriter.Write(path, version.ToString(CultureInfo.InvariantCulture) + " " + digest + "\n");
        return version;
    }
}
