using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Text.Json;

namespace OspBridge.Bridge;

/// <summary>
/// The one place where a failure becomes the user's one line (issue 9 item 5): <see cref="Describe"/> maps every
/// exception to a message (sanitised, one line, no stack trace); the <c>Require*</c>/<c>Parse*</c> helpers validate
/// option values at the edge so the message names the option and the bad value.
/// </summary>
internal static class CliErrors
{
    /// <summary>Exit code of a user-facing failure.</summary>
    public const int Failure = 1;

    /// <summary>Exit code of a bug (an exception no layer expected); still one line.</summary>
    public const int InternalError = 70;

    /// <summary>The one-line message for <paramref name="ex"/> (without the <c>ospbridge: </c> prefix) and the exit code.</summary>
    public static (string Message, int ExitCode) Describe(Exception ex)
    {
        if (ex is AggregateException { InnerExceptions.Count: 1 } agg) ex = agg.InnerExceptions[0];
        (string message, int code) = ex switch
        {
            CliException => (ex.Message, Failure),
            Quic.QuicException q when q.InnerException is SocketException s => (Socket(s), Failure),
            Crypto.CryptoException or Net.NetException or WebRtc.WebRtcException or Quic.QuicException
                or Osp.OspException or Osp.Cbor.CborException => (ex.Message, Failure),
            SocketException s => (Socket(s), Failure),
            JsonException j => ("invalid JSON: " + j.Message, Failure),
            FileNotFoundException f => ($"{f.FileName ?? "file"}: no such file", Failure),
            DirectoryNotFoundException => (ex.Message, Failure),
            UnauthorizedAccessException => ("permission denied: " + ex.Message, Failure),
            IOException => (ex.Message, Failure),
            TimeoutException => ("timed out" + (string.IsNullOrEmpty(ex.Message) || ex.Message.StartsWith("The operation has timed out", StringComparison.Ordinal) ? "" : ": " + ex.Message), Failure),
            OperationCanceledException => ("cancelled", Failure),
            UriFormatException => ("bad URL: " + ex.Message, Failure),
            ArgumentException a => (WithoutParameterSuffix(a), Failure),
            FormatException or OverflowException => (ex.Message, Failure),
            _ => ($"internal error ({ex.GetType().Name}): {ex.Message}", InternalError),
        };
        return (OneLine(message), code);
    }

    /// <summary>Sanitised and on one line (messages can carry strings from the network or from files).</summary>
    public static string OneLine(string message) => TerminalText.Sanitize(message.Trim());

    private static string WithoutParameterSuffix(ArgumentException a)
    {
        string m = a.Message;
        int i = a.ParamName is null ? -1 : m.LastIndexOf(" (Parameter '", StringComparison.Ordinal);
        return i > 0 ? $"{a.ParamName}: {m[..i]}" : m;
    }

    private static string Socket(SocketException s) => s.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "address already in use",
        SocketError.AddressNotAvailable => "address not available on this machine",
        SocketError.HostNotFound or SocketError.NoData or SocketError.TryAgain => "host not found",
        SocketError.AccessDenied => "permission denied",
        _ => "network error: " + s.Message,
    };

    /// <summary>A port in 0..65535 (0 = any free port when <paramref name="allowZero"/>).</summary>
    public static int RequirePort(string option, int port, bool allowZero = true)
    {
        if (port < (allowZero ? 0 : 1) || port > 65535)
            throw new CliException($"{option} {port.ToString(CultureInfo.InvariantCulture)}: a UDP port is {(allowZero ? 0 : 1)}..65535");
        return port;
    }

    /// <summary>A number of seconds in <c>[min, max]</c>; a negative value is always an error, never "forever".</summary>
    public static double RequireSeconds(string option, double seconds, double min, double max)
    {
        if (double.IsNaN(seconds) || seconds < min || seconds > max)
            throw new CliException($"{option} {seconds.ToString(CultureInfo.InvariantCulture)}: must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)} seconds");
        return seconds;
    }

    /// <summary>A non-empty value.</summary>
    public static string RequireNonEmpty(string option, string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) throw new CliException($"{option}: must not be empty");
        return value;
    }

    /// <summary>
    /// An IP address written in full (<c>1.2.3</c>, which <see cref="IPAddress.Parse(string)"/> reads as 1.2.0.3, is
    /// refused) that this machine can bind: any, loopback, or one of its interfaces' addresses.
    /// </summary>
    public static IPAddress RequireLocalAddress(string option, string text)
    {
        bool v4 = text.Count(c => c == '.') == 3 && !text.Contains(':', StringComparison.Ordinal);
        if (!(v4 || text.Contains(':', StringComparison.Ordinal)) || !IPAddress.TryParse(text, out var address))
            throw new CliException($"{option} '{text}': not an IP address");
        if (address.Equals(IPAddress.Any) || address.Equals(IPAddress.IPv6Any) || IPAddress.IsLoopback(address)) return address;
        var local = NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Any(u => u.Address.Equals(address)
                || (address.AddressFamily == AddressFamily.InterNetworkV6 && u.Address.AddressFamily == AddressFamily.InterNetworkV6
                    && address.ScopeId == 0 && u.Address.GetAddressBytes().AsSpan().SequenceEqual(address.GetAddressBytes())));
        if (!local) throw new CliException($"{option} {text}: not an address of this machine");
        return address;
    }

    /// <summary>Interface names that exist on this machine (null or empty: the command's default).</summary>
    public static string[]? RequireInterfaces(string option, string[]? names)
    {
        if (names is not { Length: > 0 }) return names;
        var known = NetworkInterface.GetAllNetworkInterfaces().Select(i => i.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var n in names)
            if (!known.Contains(n)) throw new CliException($"{option} '{n}': no such network interface (have: {string.Join(", ", known.Order(StringComparer.Ordinal))})");
        return names;
    }

    /// <summary>An existing directory.</summary>
    public static DirectoryInfo RequireDirectory(string option, DirectoryInfo dir)
    {
        if (!dir.Exists) throw new CliException($"{option} {dir.FullName}: no such directory");
        return dir;
    }

    /// <summary>An existing regular file.</summary>
    public static FileInfo RequireFile(string option, FileInfo file)
    {
        if (Directory.Exists(file.FullName)) throw new CliException($"{option} {file.FullName}: is a directory, not a file");
        if (!file.Exists) throw new CliException($"{option} {file.FullName}: no such file");
        return file;
    }

    /// <summary>
    /// Runs a step that binds, resolves or connects, and names <paramref name="what"/> (the address and port, the
    /// URL) when the system refuses it: "--address 127.0.0.1 --port 4433: address already in use".
    /// </summary>
    public static async Task<T> NamingAsync<T>(string what, Func<Task<T>> bind)
    {
        try
        {
            return await bind().ConfigureAwait(false);
        }
        catch (Exception ex) when (FindSocketError(ex) is { } s)
        {
            throw new CliException($"{what}: {Socket(s)}");
        }
    }

    private static SocketException? FindSocketError(Exception? ex)
    {
        for (; ex is not null; ex = ex.InnerException)
            if (ex is SocketException s) return s;
        return null;
    }
}
