using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace OspBridge.Crypto.Storage;

/// <summary>
/// The one way state files are written (identity files, the TXT <c>mv</c> file, the trust store): atomically and
/// without following planted symlinks.
/// </summary>
/// <remarks>
/// Steps: (1) a temp file with a unique random name in the same directory, opened with
/// <c>O_CREAT|O_EXCL</c> (<see cref="FileMode.CreateNew"/>; POSIX: fails on any existing name, a symlink included, so
/// nothing is ever written through a link) and mode 0600; (2) contents written and <c>fsync</c>ed; (3)
/// <c>rename(2)</c> over the target (replaces a symlink at the target instead of following it); (4) <c>fsync</c>
/// of the directory so the rename itself is durable. A reader therefore sees the old file or the new one, never
/// a mix, also after kill -9 or power loss at any point. A temp file left by a crash between (1) and (3) is
/// removed by <see cref="RemoveStaleTempFiles"/>.
/// Every state file is 0600: the private key must be, and the others (names, tokens, trusted peers) are private too.
/// </remarks>
public static class StateFileWriter
{
    /// <summary>Prefix and suffix of temp files (".&lt;name&gt;.&lt;random&gt;.tmp").</summary>
    internal const string TempSuffix = ".tmp";

    /// <summary>Writes <paramref name="contents"/> as UTF-8 to <paramref name="path"/> atomically (see the remarks).</summary>
    public static void Write(string path, string contents)
    {
        ArgumentNullException.ThrowIfNull(contents);
        Write(path, Encoding.UTF8.GetBytes(contents));
    }

    /// <summary>Writes <paramref name="contents"/> to <paramref name="path"/> atomically (see the remarks).</summary>
    public static void Write(string path, ReadOnlySpan<byte> contents)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        var tmp = Path.Combine(dir, "." + Path.GetFileName(full) + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) + TempSuffix);
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Share = FileShare.None,
            };
            if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            using (var fs = new FileStream(tmp, options))
            {
                fs.Write(contents);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(tmp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
        SyncDirectory(dir);
    }

    /// <summary>Deletes temp files of <paramref name="fileName"/> left in <paramref name="directory"/> by an interrupted write (call under the state lock).</summary>
    public static void RemoveStaleTempFiles(string directory, string fileName)
    {
        if (!Directory.Exists(directory)) return;
        foreach (var f in Directory.EnumerateFiles(directory, "." + fileName + ".*" + TempSuffix))
        {
            try { File.Delete(f); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>fsync of a directory (makes a rename in it durable). No-op on Windows.</summary>
    internal static void SyncDirectory(string dir)
    {
        if (OperatingSystem.IsWindows()) return;
        int fd = open(dir, 0 /* O_RDONLY */);
        if (fd < 0) throw new IOException($"cannot open directory '{dir}' to sync it (errno {Marshal.GetLastPInvokeError()})");
        try
        {
            if (fsync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                // EINVAL: the file system does not support syncing directories; the rename is as durable as it can be.
                if (errno != 22) throw new IOException($"fsync of directory '{dir}' failed (errno {errno})");
            }
        }
        finally
        {
            _ = close(fd);
        }
    }

#pragma warning disable SYSLIB1054 // plain DllImport: blittable ints and one UTF-8 string, no unsafe code in this library
    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int fsync(int fd);

    [DllImport("libc", SetLastError = true)]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int close(int fd);
#pragma warning restore SYSLIB1054
}
