using System.Runtime.InteropServices;

namespace OspBridge.Crypto.Storage;

/// <summary>
/// An exclusive advisory lock on a lock file in a state directory (<c>flock(LOCK_EX)</c> on Unix, an exclusive
/// share mode on Windows). It excludes other processes and other threads of this process alike (each
/// <see cref="Acquire"/> opens its own file description). The kernel drops it when the holder dies (kill -9
/// included), so a stale lock file is harmless and never needs deleting. Holders keep it only for one
/// read-modify-write of the state, never for a process's lifetime.
/// </summary>
public sealed class StateLock : IDisposable
{
    private const int LockEx = 2, LockNb = 4, LockUn = 8;
    private const int EWouldBlock = 11, EIntr = 4;
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(10);

    private FileStream? _file;

    private StateLock(FileStream file) => _file = file;

    /// <summary>Default bound on waiting for the lock.</summary>
    public static TimeSpan DefaultTimeout { get; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Takes the lock on <paramref name="lockPath"/> (created 0600 when missing), waiting up to
    /// <paramref name="timeout"/> (polling every 10 ms, counted in attempts, no clock).
    /// </summary>
    /// <exception cref="CryptoException"><see cref="CryptoError.LimitExceeded"/> when the lock stays taken for the whole timeout.</exception>
    public static StateLock Acquire(string lockPath, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(lockPath);
        var limit = timeout ?? DefaultTimeout;
        long attempts = Math.Max(1, (long)(limit / PollInterval));
        using var never = new ManualResetEventSlim(false);
        Exception? last = null;
        for (long i = 0; ; i++)
        {
            var fs = TryAcquireOnce(lockPath, ref last);
            if (fs is not null) return new StateLock(fs);
            if (i + 1 >= attempts)
                throw new CryptoException(CryptoError.LimitExceeded, $"state lock '{lockPath}' is held by another process for more than {limit.TotalSeconds:0.#} s", inner: last);
            never.Wait(PollInterval, cancellationToken);
        }
    }

    private static FileStream? TryAcquireOnce(string lockPath, ref Exception? last)
    {
        // FileShare.None: .NET takes flock(LOCK_EX|LOCK_NB) itself on Unix (an exclusive share mode on Windows) and
        // throws IOException while another description holds it; the explicit flock below keeps the lock even when
        // that .NET behaviour is switched off (DOTNET_SYSTEM_IO_DISABLEFILELOCKING).
        var options = new FileStreamOptions { Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        FileStream fs;
        try
        {
            fs = new FileStream(lockPath, options);
        }
        catch (IOException ex) when (ex is not FileNotFoundException and not DirectoryNotFoundException and not PathTooLongException)
        {
            last = ex;
            return null; // held elsewhere
        }
        if (OperatingSystem.IsWindows()) return fs;
        int fd = (int)fs.SafeFileHandle.DangerousGetHandle();
        while (true)
        {
            if (flock(fd, LockEx | LockNb) == 0) return fs;
            int errno = Marshal.GetLastPInvokeError();
            if (errno == EIntr) continue;
            fs.Dispose();
            if (errno == EWouldBlock || errno == 35 /* EWOULDBLOCK on BSD/macOS */) return null;
            throw new IOException($"flock('{lockPath}') failed (errno {errno})");
        }
    }

    /// <summary>Releases the lock.</summary>
    public void Dispose()
    {
        var fs = Interlocked.Exchange(ref _file, null);
        if (fs is null) return;
        if (!OperatingSystem.IsWindows()) _ = flock((int)fs.SafeFileHandle.DangerousGetHandle(), LockUn);
        fs.Dispose();
    }

#pragma warning disable SYSLIB1054 // plain DllImport of a blittable libc call; this library has no unsafe code
    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int flock(int fd, int operation);
#pragma warning restore SYSLIB1054
}
