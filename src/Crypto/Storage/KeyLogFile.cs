namespace OspBridge.Crypto.Storage;

/// <summary>
/// The NSS key log (<c>SSLKEYLOGFILE</c> format: one line per TLS secret) for debugging with Wireshark. Because it
/// lets anyone who reads it decrypt every QUIC connection — OSP agent sessions included — it is <b>off unless
/// explicitly enabled</b> (issue 9 item 10): <c>SSLKEYLOGFILE</c> is honoured only together with
/// <c>OSPBRIDGE_ENABLE_KEYLOG=1</c>. When enabled, the file is created 0600 (an existing file with group/world
/// access is refused), lines are appended, and a warning goes to stderr once per process. When
/// <c>SSLKEYLOGFILE</c> is set without the switch, a one-line notice says it is ignored.
/// Programs that build TLS options themselves can still pass a writer directly (<c>QuicTlsOptions.KeyLog</c>).
/// </summary>
public static class KeyLogFile
{
    /// <summary>The environment variable naming the key log file (the NSS/OpenSSL/browser convention).</summary>
    public const string PathVariable = "SSLKEYLOGFILE";

    /// <summary>The environment variable that must be <c>1</c> for <see cref="PathVariable"/> to be honoured.</summary>
    public const string EnableVariable = "OSPBRIDGE_ENABLE_KEYLOG";

    /// <summary>
    /// Opens the key log named by the environment when (and only when) it is explicitly enabled; null otherwise.
    /// </summary>
    /// <param name="getEnvironmentVariable">Environment lookup (tests pass a dictionary); default the process environment.</param>
    /// <param name="warnings">Where the warning/notice line goes; default stderr. A file that cannot be opened, or
    /// exists with group/world access, is reported there and no key log is written (never an exception).</param>
    public static TextWriter? OpenFromEnvironment(Func<string, string?>? getEnvironmentVariable = null, TextWriter? warnings = null)
    {
        getEnvironmentVariable ??= Environment.GetEnvironmentVariable;
        warnings ??= Console.Error;
        var path = getEnvironmentVariable(PathVariable);
        if (string.IsNullOrEmpty(path)) return null;
        if (getEnvironmentVariable(EnableVariable) != "1")
        {
            warnings.WriteLine($"ospbridge: note: {PathVariable} is set but ignored; set {EnableVariable}=1 to write TLS secrets to it (debugging only)");
            return null;
        }
        TextWriter writer;
        try
        {
            writer = Open(path);
        }
        catch (Exception ex) when (ex is CryptoException or IOException or UnauthorizedAccessException)
        {
            warnings.WriteLine($"ospbridge: WARNING: TLS key log not written: {ex.Message}");
            return null;
        }
        warnings.WriteLine($"ospbridge: WARNING: TLS key log enabled ({EnableVariable}=1): the secrets of every QUIC/TLS connection, OSP agent sessions included, are appended to '{path}'. Anyone who can read it can decrypt that traffic.");
        return writer;
    }

    /// <summary>Opens (creating 0600) <paramref name="path"/> for appending key-log lines; the writer is synchronized and auto-flushing.</summary>
    /// <exception cref="CryptoException"><see cref="CryptoError.InsecureState"/> when the file exists with group/world access.</exception>
    public static TextWriter Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        StatePermissions.CheckFile(path, isPrivateKey: true);
        var options = new FileStreamOptions { Mode = FileMode.Append, Access = FileAccess.Write, Share = FileShare.ReadWrite };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        var stream = new FileStream(path, options);
        return TextWriter.Synchronized(new StreamWriter(stream) { AutoFlush = true });
    }
}
