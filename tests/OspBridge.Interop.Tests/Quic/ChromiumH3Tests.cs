using OspBridge.Crypto.Tls;
using OspBridge.Quic.Http3;
using OspBridge.Crypto.Certificates;

namespace OspBridge.Interop.Tests.Quic;

/// <summary>
/// Headless Chromium loads a page over HTTP/3 from our server. Both run in network namespaces this test creates
/// (server on host 0, Chromium on host 1 of a private bridge LAN); nothing touches the machine's own interfaces.
/// The server listens on UDP only, so a loaded page proves QUIC + TLS 1.3 + HTTP/3 worked.
/// </summary>
[Collection("chromium")]
public sealed class ChromiumH3Tests
{
    [Fact]
    public async Task Headless_chromium_loads_a_page_over_http3_from_our_server()
    {
        Assert.True(File.Exists("/usr/bin/chromium"), "chromium is not installed (Debian package chromium); test.sh installs it");
        string? why = NetnsLan.WhyUnsupported();
        Assert.True(why is null, "network namespaces unavailable: " + why);

        string root = Directory.CreateTempSubdirectory("ospb-h3-chromium-").FullName;
        string profile = Directory.CreateTempSubdirectory("ospb-chromium-profile-").FullName;
        try
        {
            string marker = "served-by-ospbridge-h3-" + Guid.NewGuid().ToString("N");
            await File.WriteAllTextAsync(Path.Combine(root, "index.html"),
                $"<html><body><h1 id=\"m\">{marker}</h1><p id=\"js\">no script</p><script src=\"/app.js\"></script></body></html>");
            // A 3 MB script (mostly a comment) makes Chromium pull a multi-megabyte resource on a second stream.
            string padding = new string('x', 3_000_000);
            await File.WriteAllTextAsync(Path.Combine(root, "app.js"),
                $"/*{padding}*/\ndocument.getElementById('js').textContent = 'script-ran-' + document.scripts.length;\n");
            await using var lan = await NetnsLan.CreateAsync(2);
            var serverHost = lan.Hosts[0];
            var browserHost = lan.Hosts[1];
            var cert = SelfSignedCertificate.CreateTlsServer("localhost");
            var server = serverHost.RunInNamespace(() => Http3Server.StartAsync(new Http3ServerOptions
            {
                ListenEndPoint = new IPEndPoint(serverHost.IPv4, 4433),
                Certificate = cert,
                DocumentRoot = root,
            }).GetAwaiter().GetResult());
            await using (server)
            {
                string origin = $"{serverHost.IPv4}:4433";
                string spki = Convert.ToBase64String(CertificateFingerprint.OfSpki(cert, System.Security.Cryptography.HashAlgorithmName.SHA256));
                var result = await browserHost.RunAsync("/usr/bin/chromium",
                [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--user-data-dir=" + profile,
                    "--origin-to-force-quic-on=" + origin, "--ignore-certificate-errors-spki-list=" + spki,
                    "--dump-dom", $"https://{origin}/",
                ], TimeSpan.FromSeconds(90));
                Assert.False(result.TimedOut, "chromium timed out: " + result.StandardError[^Math.Min(2000, result.StandardError.Length)..]);
                Assert.Contains(marker, result.StandardOutput, StringComparison.Ordinal);
                Assert.Contains("script-ran-1", result.StandardOutput, StringComparison.Ordinal);
                Assert.True(server.RequestsServed >= 2, "our HTTP/3 server answered fewer than two requests");
            }
        }
        finally
        {
            Directory.Delete(root, true);
            try { Directory.Delete(profile, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }
}
