using System.Net;
using OspBridge.Osp.Trust;

namespace OspBridge.Osp.Tests.Trust;

public sealed class SuspicionAndConsentTests : IDisposable
{
    private readonly string _dir = Path.Combine(Path.GetTempPath(), "ospbridge-susp-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_dir)) Directory.Delete(_dir, recursive: true);
    }

    private static string Fp(string tag) => TrustStoreChild.Fp(tag);

    private static OspTrustedPeer Trusted(string tag, string name) =>
        new() { Fingerprint = Fp(tag), DisplayNames = [name], Trusted = true };

    private static OspPeerObservation Seen(string tag, string name, params string[] endpoints) =>
        new(Fp(tag), name, name, endpoints.Select(IPEndPoint.Parse).ToList());

    private static OspSuspicionKind[] Kinds(IReadOnlyList<OspSuspicion> s) => s.Select(x => x.Kind).ToArray();

    [Fact]
    public void TrustedPeerAsKnownRaisesNothing()
    {
        var known = new[] { Trusted("tv", "Living Room TV"), Trusted("cam", "Door Cam") };
        Assert.Empty(OspSuspicionRules.Evaluate(known, Seen("tv", "Living Room TV", "192.0.2.1:4433")));
    }

    [Fact]
    public void DisplayNameChangedUnderOneFingerprint()
    {
        var known = new[] { Trusted("tv", "Living Room TV") };
        var s = OspSuspicionRules.Evaluate(known, Seen("tv", "Bank Login", "192.0.2.1:4433"));
        Assert.Equal([OspSuspicionKind.DisplayNameChanged], Kinds(s));
        Assert.Contains("Living Room TV", s[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public void OneFingerprintAtSeveralEndpoints()
    {
        var a = Seen("tv", "TV", "192.0.2.1:4433");
        var b = new OspPeerObservation(Fp("tv"), "TV", "TV (2)", [IPEndPoint.Parse("192.0.2.99:4433")]);
        Assert.Equal([OspSuspicionKind.FingerprintAtSeveralEndpoints], Kinds(OspSuspicionRules.Evaluate([], a, [a, b])));
        // Same instance, disjoint addresses: suspicious too.
        var c = Seen("tv", "TV", "198.51.100.5:4433");
        Assert.Equal([OspSuspicionKind.FingerprintAtSeveralEndpoints], Kinds(OspSuspicionRules.Evaluate([], a, [a, c])));
        // A multi-homed agent (one answer, overlapping addresses) is normal.
        var d = new OspPeerObservation(Fp("tv"), "TV", "TV", [IPEndPoint.Parse("192.0.2.1:4433"), IPEndPoint.Parse("[fe80::1]:4433")]);
        Assert.Empty(OspSuspicionRules.Evaluate([], a, [a, d]));
    }

    [Theory]
    [InlineData("Living Room TV", "Living Room TV")]
    [InlineData("living room tv", "Living Room TV")]
    [InlineData("Ｌｉｖｉｎｇ Ｒｏｏｍ ＴＶ", "Living Room TV")] // full-width: equal after NFKC
    public void TrustedNameWithNewFingerprintIsFlaggedNeverUpdated(string observedName, string trustedName)
    {
        var known = new[] { Trusted("tv", trustedName) };
        var s = OspSuspicionRules.Evaluate(known, Seen("attacker", observedName, "192.0.2.66:4433"));
        var w = Assert.Single(s);
        Assert.Equal(OspSuspicionKind.TrustedNameWithNewFingerprint, w.Kind);
        Assert.Equal(Fp("tv"), w.RelatedFingerprint);
        Assert.Contains("NOT", w.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TrustedNameWithNewFingerprintDoesNotMoveTrust()
    {
        var store = OspTrustStore.Open(_dir);
        store.RecordAuthenticated(Fp("tv"), "Living Room TV");
        var s = OspSuspicionRules.Evaluate(store.Peers, Seen("attacker", "Living Room TV"));
        Assert.Contains(s, x => x.Kind == OspSuspicionKind.TrustedNameWithNewFingerprint);
        Assert.False(store.IsTrusted(Fp("attacker")));
        Assert.Equal(Fp("tv"), store.Resolve("Living Room TV").Fingerprint);
        // Seeing the attacker does not create or change records either (RecordSeen ignores unknown fingerprints).
        Assert.Null(store.RecordSeen(Fp("attacker"), "Living Room TV"));
        Assert.Single(store.Peers);
    }

    [Theory]
    [InlineData("Living Room TV", "Living Rooom TV")]   // one insertion
    [InlineData("Living Room TV", "Livng Room TV")]     // one deletion
    [InlineData("Living Room TV", "Living Roon TV")]    // one substitution
    [InlineData("Kitchen", "Kitcehn")]                  // transposition
    [InlineData("Door Cam", "D00r Cam")]                // digits for letters
    [InlineData("Paypal Printer", "PayPaI Printer")]    // capital I for l
    [InlineData("Living Room TV", "Living Rоom TV")]    // Cyrillic о
    [InlineData("Modem", "Rnodem")]                     // rn for m
    [InlineData("Living Room TV", "Living-Room-TV")]    // separators
    [InlineData("Café", "Cafe")]                        // diacritic
    [InlineData("Büro Drucker Eins", "Buro Drucker Ejns")] // two edits on a long name
    public void NameResemblingATrustedAgent(string trusted, string observed)
    {
        Assert.True(OspSuspicionRules.Resembles(observed, trusted), $"{observed} ~ {trusted}");
        var s = OspSuspicionRules.Evaluate([Trusted("t", trusted)], Seen("x", observed));
        Assert.Equal([OspSuspicionKind.NameResemblesTrustedPeer], Kinds(s));
    }

    [Theory]
    [InlineData("Living Room TV", "Bedroom TV")]
    [InlineData("Kitchen", "Garage")]
    [InlineData("TV", "TX")]          // short names only match when their skeletons are equal
    [InlineData("Cam 1", "Cam 2")]    // 4-char skeletons, one edit → resembles? documented: yes if ≥ 4 — see below
    public void DifferentNamesDoNotResemble(string trusted, string observed)
    {
        if (observed == "Cam 2")
        {
            // "caml" vs "cam2": one substitution on a 4-character skeleton counts as resembling (documented rule).
            Assert.True(OspSuspicionRules.Resembles(observed, trusted));
            return;
        }
        Assert.False(OspSuspicionRules.Resembles(observed, trusted));
        Assert.Empty(OspSuspicionRules.Evaluate([Trusted("t", trusted)], Seen("x", observed)));
    }

    [Fact]
    public void ResemblanceAmongTrustedPeersIsNotFlagged()
    {
        var known = new[] { Trusted("a", "Kitchen TV"), Trusted("b", "Kitchen TV2") };
        Assert.Empty(OspSuspicionRules.Evaluate(known, Seen("b", "Kitchen TV2")));
    }

    [Fact]
    public void RepeatedAuthFailuresFlag()
    {
        var store = OspTrustStore.Open(_dir);
        for (int i = 0; i < OspTrustStore.AuthFailureThreshold; i++) store.RecordAuthFailure(Fp("guesser"), "Guesser");
        var s = OspSuspicionRules.Evaluate(store.Peers, Seen("guesser", "Guesser"));
        Assert.Equal([OspSuspicionKind.RepeatedAuthFailures], Kinds(s));
    }

    [Fact]
    public void SkeletonExamples()
    {
        Assert.Equal("llvlngroomtv", OspSuspicionRules.Skeleton("Living Room TV"));
        Assert.Equal(OspSuspicionRules.Skeleton("Door Cam"), OspSuspicionRules.Skeleton("D00R-CAM"));
        Assert.Equal(OspSuspicionRules.Skeleton("modem"), OspSuspicionRules.Skeleton("rnodem"));
        Assert.Equal(OspSuspicionRules.Skeleton("Printer"), OspSuspicionRules.Skeleton("Pri\u200Bnter"));
    }

    private sealed class ScriptedHost(bool allowPeer, bool allowGrant) : IOspConsentHost
    {
        public List<OspConsentRequest> PeerQuestions { get; } = [];
        public List<OspGrantRequest> GrantQuestions { get; } = [];

        public ValueTask<bool> ConfirmNewPeerAsync(OspConsentRequest request, CancellationToken cancellationToken)
        {
            PeerQuestions.Add(request);
            return ValueTask.FromResult(allowPeer);
        }

        public ValueTask<bool> ConfirmAppGrantAsync(OspGrantRequest request, CancellationToken cancellationToken)
        {
            GrantQuestions.Add(request);
            return ValueTask.FromResult(allowGrant);
        }
    }

    [Fact]
    public async Task NewPeersNeedConsentWithWarningsAttachedTrustedOnesDoNot()
    {
        var store = OspTrustStore.Open(_dir);
        store.RecordAuthenticated(Fp("tv"), "Living Room TV");
        var no = new ScriptedHost(allowPeer: false, allowGrant: false);
        Assert.True(await OspConsent.AdmitAsync(store, no, Seen("tv", "Living Room TV"), null, CancellationToken.None));
        Assert.Empty(no.PeerQuestions);
        // A trusted name with a new key: refused without asking (even a host that says yes to all), flagged, never merged.
        Assert.False(await OspConsent.AdmitAsync(store, new ScriptedHost(allowPeer: true, allowGrant: true), Seen("evil", "Living Room TV"), null, CancellationToken.None));
        var evil = OspTrustStore.Open(_dir).Find(Fp("evil"));
        Assert.NotNull(evil);
        Assert.False(evil.Trusted);
        Assert.True(evil.Marks.HasFlag(OspPeerMarks.Suspicious));
        Assert.Equal(["Living Room TV"], OspTrustStore.Open(_dir).Find(Fp("tv"))!.DisplayNames);
        // A look-alike name is asked about, with the warning attached.
        Assert.False(await OspConsent.AdmitAsync(store, no, Seen("evil2", "Living Roorn TV"), null, CancellationToken.None));
        var q = Assert.Single(no.PeerQuestions);
        Assert.Equal(OspPeerId.FromFingerprint(Fp("evil2")), q.Id);
        Assert.Contains(q.Warnings, w => w.Kind == OspSuspicionKind.NameResemblesTrustedPeer);
        var yes = new ScriptedHost(allowPeer: true, allowGrant: true);
        Assert.True(await OspConsent.AdmitAsync(store, yes, Seen("new", "Printer"), null, CancellationToken.None));
        Assert.False(store.IsTrusted(Fp("new")), "consent lets pairing start; only authentication adds trust");
    }

    [Fact]
    public async Task AppGrantsArePromptedOnceRecordedAndRevocable()
    {
        var store = OspTrustStore.Open(_dir);
        var fp = Fp("tv");
        var host = new ScriptedHost(allowPeer: true, allowGrant: true);
        Assert.False(await OspConsent.EnsureGrantAsync(store, host, fp, "https://a.example", CancellationToken.None)); // not trusted
        Assert.Empty(host.GrantQuestions);
        store.RecordAuthenticated(fp, "TV");
        Assert.True(await OspConsent.EnsureGrantAsync(store, host, fp, "https://a.example", CancellationToken.None));
        Assert.True(await OspConsent.EnsureGrantAsync(store, host, fp, "https://a.example", CancellationToken.None));
        Assert.Single(host.GrantQuestions);
        Assert.Equal(["https://a.example"], OspTrustStore.Open(_dir).Find(fp)!.Grants.Select(g => g.App));
        Assert.False(await OspConsent.EnsureGrantAsync(store, new ScriptedHost(true, false), fp, "https://b.example", CancellationToken.None));
        Assert.True(store.RevokeGrant(fp, "https://a.example"));
        Assert.False(store.HasGrant(fp, "https://a.example"));
    }
}
