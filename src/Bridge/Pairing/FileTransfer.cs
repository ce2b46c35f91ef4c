using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using OspBridge.Net.Channels;

namespace OspBridge.Bridge.Pairing;

/// <summary>Outcome of one file transfer (either side).</summary>
/// <param name="Name">The file name (the channel's protocol).</param>
/// <param name="Bytes">Bytes transferred (confirmed by the receiver when <paramref name="Ok"/>).</param>
/// <param name="Sha256Hex">Lower-case hex SHA-256 of the whole file.</param>
/// <param name="Path">Receiver only: where the file was stored.</param>
/// <param name="Ok">True when the receiver confirmed the byte count and hash.</param>
/// <param name="Error">Why the transfer failed, when not <paramref name="Ok"/>.</param>
internal sealed record FileTransferResult(string Name, long Bytes, string Sha256Hex, string? Path, bool Ok, string? Error);

/// <summary>
/// The <c>file</c> data-channel protocol of <c>ospbridge send</c> / <c>ospbridge agent --receive-dir</c>
/// (docs/cli.md, "File transfer"). The sender opens a channel with label <c>file</c> and protocol = the file name,
/// sends the content as binary messages of at most <see cref="ChunkSize"/> bytes, then one text message
/// <c>end &lt;bytes&gt; &lt;sha256 hex&gt;</c>. The receiver stores the bytes in a temporary file, checks count and
/// hash, moves the file into place and answers with one text message <c>ok &lt;bytes&gt; &lt;sha256 hex&gt;</c>
/// (or <c>error &lt;reason&gt;</c>, deleting what it received). The sender succeeds only on an <c>ok</c> that
/// repeats its own count and hash.
/// </summary>
internal static class FileTransfer
{
    /// <summary>The channel label.</summary>
    public const string Label = "file";

    /// <summary>Largest chunk the sender sends (the receiver accepts up to <see cref="MaxChunkSize"/>).</summary>
    public const int ChunkSize = 64 * 1024;

    /// <summary>Largest binary message the receiver accepts.</summary>
    public const int MaxChunkSize = 1024 * 1024;

    /// <summary>Longest text message (end marker, reply) either side accepts.</summary>
    public const int MaxControlMessage = 256;

    /// <summary>Largest file the receiver accepts by default.</summary>
    public const long DefaultMaxFileBytes = 64L * 1024 * 1024 * 1024;

    /// <summary>
    /// True when <paramref name="name"/> is acceptable as a stored file name: 1..255 UTF-8 bytes, no path
    /// separators, no control characters, not <c>.</c> or <c>..</c>, not starting with <c>.</c> (hidden files and
    /// our temporary files).
    /// </summary>
    public static bool IsValidName(string? name)
    {
        if (string.IsNullOrEmpty(name) || Encoding.UTF8.GetByteCount(name) > 255) return false;
        if (name[0] == '.') return false;
        foreach (char c in name)
        {
            if (c is '/' or '\\' or ':' || char.IsControl(c)) return false;
        }
        return true;
    }

    /// <summary>
    /// Sends <paramref name="source"/> on an open <c>file</c> channel and waits for the receiver's confirmation.
    /// <paramref name="progress"/> receives the number of bytes handed to the channel so far.
    /// </summary>
    public static async Task<FileTransferResult> SendAsync(IMessageChannel channel, Stream source, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        int chunk = channel.MaxMessageSize is > 0 and < ChunkSize ? (int)channel.MaxMessageSize : ChunkSize;
        var buffer = new byte[chunk];
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        while (true)
        {
            int n = await ReadFullAsync(source, buffer, cancellationToken).ConfigureAwait(false);
            if (n == 0) break;
            hash.AppendData(buffer, 0, n);
            // SendAsync completes once the message is queued and the channel may still hold it: send a copy.
            await channel.SendAsync(buffer.AsMemory(0, n).ToArray(), isText: false, cancellationToken).ConfigureAwait(false);
            total += n;
            progress?.Report(total);
        }
        string sha = Convert.ToHexStringLower(hash.GetHashAndReset());
        string end = string.Create(CultureInfo.InvariantCulture, $"end {total} {sha}");
        await channel.SendAsync(Encoding.UTF8.GetBytes(end), isText: true, cancellationToken).ConfigureAwait(false);

        var reply = await channel.ReceiveAsync(cancellationToken).ConfigureAwait(false);
        string name = channel.Protocol;
        if (reply is not { } r) return new(name, total, sha, null, false, "the peer closed the channel without confirming");
        if (!r.IsText || r.Data.Length > MaxControlMessage) return new(name, total, sha, null, false, "unexpected reply from the peer");
        string text = Encoding.UTF8.GetString(r.Data.Span);
        if (text.StartsWith("error ", StringComparison.Ordinal)) return new(name, total, sha, null, false, "the peer refused the file: " + text[6..]);
        if (text != string.Create(CultureInfo.InvariantCulture, $"ok {total} {sha}"))
            return new(name, total, sha, null, false, "the peer confirmed different bytes: " + text);
        return new(name, total, sha, null, true, null);
    }

    /// <summary>
    /// Receives one file on an incoming <c>file</c> channel into <paramref name="directory"/> and answers the
    /// sender. Never throws for bad peer input: the result says what went wrong (and the partial file is gone).
    /// </summary>
    public static async Task<FileTransferResult> ReceiveAsync(IMessageChannel channel, string directory, long maxFileBytes, CancellationToken cancellationToken)
    {
        string name = channel.Protocol;
        if (!IsValidName(name))
        {
            await ReplyAsync(channel, "error invalid file name", cancellationToken).ConfigureAwait(false);
            return new(name, 0, "", null, false, "invalid file name");
        }
        Directory.CreateDirectory(directory);
        string temp = Path.Combine(directory, "." + name + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8)) + ".part");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long total = 0;
        string? error = null;
        string? end = null;
        bool keep = false;
        try
        {
            await using (var file = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                while (true)
                {
                    var m = await channel.ReceiveAsync(cancellationToken).ConfigureAwait(false);
                    if (m is not { } msg)
                    {
                        error = "the sender closed the channel before the end marker";
                        break;
                    }
                    if (msg.IsText)
                    {
                        if (msg.Data.Length > MaxControlMessage) { error = "control message too long"; break; }
                        end = Encoding.UTF8.GetString(msg.Data.Span);
                        break;
                    }
                    if (msg.Data.Length > MaxChunkSize) { error = "chunk too large"; break; }
                    if (total + msg.Data.Length > maxFileBytes) { error = "file too large"; break; }
                    hash.AppendData(msg.Data.Span);
                    await file.WriteAsync(msg.Data, cancellationToken).ConfigureAwait(false);
                    total += msg.Data.Length;
                }
                if (error is null) file.Flush(flushToDisk: true);
            }
            string sha = Convert.ToHexStringLower(hash.GetHashAndReset());
            if (error is null && end != string.Create(CultureInfo.InvariantCulture, $"end {total} {sha}"))
                error = end is not null && end.StartsWith("end ", StringComparison.Ordinal) ? "byte count or SHA-256 mismatch" : "malformed end marker";
            if (error is not null)
            {
                await ReplyAsync(channel, "error " + error, cancellationToken).ConfigureAwait(false);
                return new(name, total, sha, null, false, error);
            }
            string path = MoveIntoPlace(temp, directory, name);
            keep = true;
            await ReplyAsync(channel, string.Create(CultureInfo.InvariantCulture, $"ok {total} {sha}"), cancellationToken).ConfigureAwait(false);
            return new(name, total, sha, path, true, null);
        }
        finally
        {
            if (!keep) TryDelete(temp);
        }
    }

    /// <summary>Moves the finished temporary file to <c>name</c>, or <c>name (1)</c>, <c>name (2)</c>... if taken; never overwrites.</summary>
    private static string MoveIntoPlace(string temp, string directory, string name)
    {
        string stem = Path.GetFileNameWithoutExtension(name), ext = Path.GetExtension(name);
        for (int i = 0; i < 10_000; i++)
        {
            string candidate = Path.Combine(directory, i == 0 ? name : string.Create(CultureInfo.InvariantCulture, $"{stem} ({i}){ext}"));
            if (File.Exists(candidate) || Directory.Exists(candidate)) continue;
            try
            {
                File.Move(temp, candidate, overwrite: false);
                return candidate;
            }
            catch (IOException) when (File.Exists(candidate))
            {
                // Lost a race with another transfer of the same name: try the next one.
            }
        }
        throw new IOException($"no free file name for '{name}' in {directory}");
    }

    private static async Task ReplyAsync(IMessageChannel channel, string text, CancellationToken cancellationToken)
    {
        try
        {
            await channel.SendAsync(Encoding.UTF8.GetBytes(text), isText: true, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The sender went away: nothing more to tell it.
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    private static async Task<int> ReadFullAsync(Stream source, byte[] buffer, CancellationToken cancellationToken)
    {
        int n = 0;
        while (n < buffer.Length)
        {
            int r = await source.ReadAsync(buffer.AsMemory(n), cancellationToken).ConfigureAwait(false);
            if (r == 0) break;
            n += r;
        }
        return n;
    }
}
