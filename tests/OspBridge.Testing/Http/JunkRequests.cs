using System.Net.Sockets;
using System.Text;

namespace OspBridge.Testing.Http;

/// <summary>
/// Junk aimed at an HTTP server (the bridge's "keeps serving during 10 000 junk requests", issue 13): in turn a GET
/// with a wrong token, an unauthenticated POST of a garbage body, a GET of a path-traversal target with a NUL, and raw
/// garbage on a fresh TCP connection (read until the server answers or closes, at most 10 s). Shared by ServeTests
/// and the bridge load bench.
/// </summary>
public static class JunkRequests
{
    /// <summary>Sends request <paramref name="i"/> of the mix; the answers are discarded.</summary>
    /// <param name="wrongToken">A client with a wrong bearer token.</param>
    /// <param name="anonymous">A client with no credentials.</param>
    /// <param name="server">The server's base URL (for the raw TCP garbage).</param>
    /// <param name="i">Which request (i % 4 picks the kind; i also varies paths and lengths).</param>
    public static async Task SendAsync(HttpClient wrongToken, HttpClient anonymous, Uri server, int i)
    {
        ArgumentNullException.ThrowIfNull(wrongToken);
        ArgumentNullException.ThrowIfNull(anonymous);
        ArgumentNullException.ThrowIfNull(server);
        switch (i % 4)
        {
            case 0: (await wrongToken.GetAsync(new Uri($"/api/devices/{i}", UriKind.Relative)).ConfigureAwait(false)).Dispose(); break;
            case 1: (await anonymous.PostAsync(new Uri("/api/devices/x/pair", UriKind.Relative), new ByteArrayContent(new byte[i % 300])).ConfigureAwait(false)).Dispose(); break;
            case 2: (await anonymous.GetAsync(new Uri($"/%00{i}/../../etc/passwd", UriKind.Relative)).ConfigureAwait(false)).Dispose(); break;
            default:
                using (var tcp = new TcpClient())
                {
                    await tcp.ConnectAsync(server.Host, server.Port).ConfigureAwait(false);
                    var s = tcp.GetStream();
                    await s.WriteAsync(Encoding.ASCII.GetBytes($"\u0001\u0002GARBAGE {i} \r\n\r\n")).ConfigureAwait(false);
                    var buf = new byte[256];
                    try { await s.ReadAsync(buf).AsTask().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false); }
                    catch (IOException) { }
                }
                break;
        }
    }

    /// <summary>Sends <paramref name="count"/> requests of the mix, <paramref name="parallel"/> at a time.</summary>
    public static async Task RunAsync(HttpClient wrongToken, HttpClient anonymous, Uri server, int count, int parallel, CancellationToken cancellationToken = default)
    {
        using var gate = new SemaphoreSlim(parallel);
        await Task.WhenAll(Enumerable.Range(0, count).Select(async i =>
        {
            await gate.WaitAsync(cancellationToken).ConfigureAwait(false);
            try { await SendAsync(wrongToken, anonymous, server, i).ConfigureAwait(false); }
            finally { gate.Release(); }
        })).ConfigureAwait(false);
    }
}
