using System.Globalization;
using System.Security.Cryptography;
using System.Text;

namespace OspBridge.Osp.Discovery;

/// <summary>
/// Keeps the TXT <c>mv</c> metadata version across restarts: the version is stored with a digest of the
/// agent metadata (display name, model name, ...) in <c>osp-discovery-mv.txt</c> in the state directory,
/// and bumped by one whenever the digest changes, so listeners that cached the old agent-info refetch it.
/// </summary>
public static class OspMetadataVersion
{
    /// <summary>File name inside the state directory.</summary>
    public const string FileName = "osp-discovery-mv.txt";

    /// <summary>Returns the metadata version for <paramref name="metadata"/> (bumped and persisted when it changed).</summary>
    public static ulong LoadOrBump(string stateDirectory, params string[] metadata)
    {
        string digest = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\u001f', metadata))));
        string path = Path.Combine(stateDirectory, FileName);
        ulong version = 0;
        string? oldDigest = null;
        if (File.Exists(path))
        {
            var parts = File.ReadAllText(path).Trim().Split(' ');
            if (parts.Length == 2 && ulong.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out ulong v) && v < (1UL << 62))
            {
                version = v;
                oldDigest = parts[1];
            }
        }
        if (oldDigest == digest) return version;
        if (oldDigest is not null) version++;
        Directory.CreateDirectory(stateDirectory);
        string tmp = path + ".tmp";
        File.WriteAllText(tmp, version.ToString(CultureInfo.InvariantCulture) + " " + digest + "\n");
        File.Move(tmp, path, overwrite: true);
        return version;
    }
}
