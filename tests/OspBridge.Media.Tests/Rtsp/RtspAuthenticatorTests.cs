using System.Text;
using OspBridge.Media.Rtsp;

namespace OspBridge.Media.Tests.Rtsp;

public class RtspAuthenticatorTests
{
    [Fact]
    public void Digest_with_qop_auth_matches_the_rfc2617_example()
    {
        // RFC 2617 §3.5: Mufasa / "Circle Of Life", GET /dir/index.html, nc=00000001, cnonce=0a4f113b.
        var auth = new RtspAuthenticator("Mufasa", "Circle Of Life") { FixedClientNonce = "0a4f113b" };
        Assert.True(auth.TrySetChallenge([
            "Basic realm=\"x\"",
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        ]));
        string h = auth.GetAuthorization("GET", "/dir/index.html")!;
        Assert.StartsWith("Digest username=\"Mufasa\", realm=\"testrealm@host.com\"", h);
        Assert.Contains("response=\"6629fae49393a05397450978507c4ef1\"", h);
        Assert.Contains("nc=00000001", h);
        Assert.Contains("opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"", h);
        Assert.Contains("nc=00000002", auth.GetAuthorization("GET", "/dir/index.html")!);
    }

    [Fact]
    public void Digest_without_qop_uses_the_rfc2069_form()
    {
        var auth = new RtspAuthenticator("user", "pass");
        Assert.True(auth.TrySetChallenge(["Digest realm=\"cam\", nonce=\"abc\""]));
        string ha1 = RtspAuthenticator.Md5Hex("user:cam:pass");
        string ha2 = RtspAuthenticator.Md5Hex("DESCRIBE:rtsp://h/x");
        string expected = RtspAuthenticator.Md5Hex($"{ha1}:abc:{ha2}");
        string h = auth.GetAuthorization("DESCRIBE", "rtsp://h/x")!;
        Assert.Contains($"response=\"{expected}\"", h);
        Assert.DoesNotContain("qop", h);
    }

    [Fact]
    public void Basic_is_base64_of_user_colon_password()
    {
        var auth = new RtspAuthenticator("Aladdin", "open sesame");
        Assert.True(auth.TrySetChallenge(["Basic realm=\"WallyWorld\""]));
        Assert.Equal("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", auth.GetAuthorization("OPTIONS", "*"));
        Assert.Equal("Aladdin:open sesame", Encoding.UTF8.GetString(Convert.FromBase64String("QWxhZGRpbjpvcGVuIHNlc2FtZQ==")));
    }

    [Fact]
    public void Unknown_schemes_and_non_md5_digest_are_refused()
    {
        var auth = new RtspAuthenticator("u", "p");
        Assert.False(auth.TrySetChallenge(["Bearer realm=\"x\"", "Digest realm=\"r\", nonce=\"n\", algorithm=SHA-256"]));
        Assert.Null(auth.GetAuthorization("OPTIONS", "*"));
    }
}
