namespace OspBridge.Crypto.Storage;

/// <summary>
/// Creates and checks state directories and files the way ssh checks <c>~/.ssh</c> (StrictModes) and private
/// keys: state that other users could change, or a private key they could read, is <b>refused</b> with
/// <see cref="CryptoError.InsecureState"/> and a message naming the path, its mode and the <c>chmod</c> that fixes
/// it — never silently repaired (a file that was writable by others may already have been changed; the operator
/// decides). Rules (Unix; Windows relies on the profile directory's ACLs and is not checked):
/// <list type="bullet">
/// <item>the state directory: not group- or world-writable (mode &amp; 022 = 0); a new one is created 0700;</item>
/// <item>every state file: not group- or world-writable;</item>
/// <item>a private key: no group or world access at all (mode &amp; 077 = 0), like ssh's "UNPROTECTED PRIVATE KEY FILE".</item>
/// </list>
/// Not checked: file ownership (.NET has no portable owner query) and the directory's parents.
/// </summary>
public static class StatePermissions
{
    private const UnixFileMode GroupOrWorldWritable = UnixFileMode.GroupWrite | UnixFileMode.OtherWrite;

    private const UnixFileMode GroupOrWorldAny = UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.GroupExecute
        | UnixFileMode.OtherRead | UnixFileMode.OtherWrite | UnixFileMode.OtherExecute;

    /// <summary>Creates <paramref name="directory"/> (0700) when missing, then checks it (see the class remarks).</summary>
    /// <exception cref="CryptoException"><see cref="CryptoError.InsecureState"/> for a group/world-writable directory.</exception>
    public static void Prepare(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (!Directory.Exists(directory))
        {
            if (OperatingSystem.IsWindows()) Directory.CreateDirectory(directory);
            else Directory.CreateDirectory(directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        CheckDirectory(directory);
    }

    /// <summary>Checks that <paramref name="directory"/> is not group- or world-writable.</summary>
    /// <exception cref="CryptoException"><see cref="CryptoError.InsecureState"/> when it is.</exception>
    public static void CheckDirectory(string directory)
    {
        if (OperatingSystem.IsWindows() || !Directory.Exists(directory)) return;
        var mode = File.GetUnixFileMode(directory);
        if ((mode & GroupOrWorldWritable) != 0)
            throw new CryptoException(CryptoError.InsecureState,
                $"state directory '{directory}' is writable by other users (mode {Octal(mode)}); refusing to use it. Fix: chmod go-w '{directory}' (or chmod 700)");
    }

    /// <summary>Checks one existing state file; <paramref name="isPrivateKey"/> demands no group/world access at all.</summary>
    /// <exception cref="CryptoException"><see cref="CryptoError.InsecureState"/> when the mode is too open.</exception>
    public static void CheckFile(string path, bool isPrivateKey)
    {
        if (OperatingSystem.IsWindows() || !File.Exists(path)) return;
        var mode = File.GetUnixFileMode(path);
        if (isPrivateKey && (mode & GroupOrWorldAny) != 0)
            throw new CryptoException(CryptoError.InsecureState,
                $"private key '{path}' is accessible by other users (mode {Octal(mode)}); refusing to load it. Fix: chmod 600 '{path}'");
        if ((mode & GroupOrWorldWritable) != 0)
            throw new CryptoException(CryptoError.InsecureState,
                $"state file '{path}' is writable by other users (mode {Octal(mode)}); refusing to load it. Fix: chmod go-w '{path}' (or chmod 600)");
    }

    /// <summary>Checks (<see cref="CheckFile"/>) and reads a state file of at most <paramref name="maxBytes"/> bytes as UTF-8.</summary>
    /// <exception cref="CryptoException"><see cref="CryptoError.InsecureState"/>, or <see cref="CryptoError.LimitExceeded"/> for a larger file.</exception>
    public static string ReadAllText(string path, int maxBytes, bool isPrivateKey = false)
    {
        CheckFile(path, isPrivateKey);
        using var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        if (fs.Length > maxBytes)
            throw new CryptoException(CryptoError.LimitExceeded, $"state file '{path}' is implausibly large ({fs.Length} bytes, limit {maxBytes})");
        using var reader = new StreamReader(fs, System.Text.Encoding.UTF8);
        return reader.ReadToEnd();
    }

    private static string Octal(UnixFileMode mode) => "0" + Convert.ToString((int)mode & 0xFFF, 8);
}
