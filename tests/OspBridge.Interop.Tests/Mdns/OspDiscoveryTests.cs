using System.Text;
using OspBridge.Net.Dns;
using OspBridge.Osp.Discovery;

namespace OspBridge.Interop.Tests.Mdns;

/// <summary>Unit tests of the OSP discovery rules (instance names, TXT keys, metadata version).</summary>
public sealed class OspDiscoveryTests
{
    private const string Fp = "Vx7tqgvGG14ZOBpwAg//cXdDCZoyY5tE9i39W7Tilp4=";

    [Fact]
    public void InstanceName_ShortDisplayName_IsUnchanged()
    {
        Assert.Equal("Living Room TV", OspInstanceName.FromDisplayName("Living Room TV"));
        Assert.False(OspInstanceName.IsTruncated("Living Room TV"));
    }

    [Fact]
    public void InstanceName_LongDisplayName_IsUtf8SafePrefixWithNulMarker()
    {
        string display = string.Concat(Enumerable.Repeat("Wohnzimmer-Fernseher ü ", 5)); // > 63 octets, 2-octet ü
        string inst = OspInstanceName.FromDisplayName(display);
        Assert.True(OspInstanceName.IsTruncated(inst));
        Assert.EndsWith("\0", inst, StringComparison.Ordinal);
        Assert.True(Encoding.UTF8.GetByteCount(inst) <= 63);
        Assert.StartsWith(OspInstanceName.WithoutMarker(inst), display, StringComparison.Ordinal); // a prefix of the display name
        // Emoji (4 octets, surrogate pair) are never split.
        string emoji = new string('a', 60) + "📺📺";
        string e = OspInstanceName.FromDisplayName(emoji);
        Assert.Equal(new string('a', 60) + "\0", e);
        Assert.Equal(DnsName.Parse("x.local").Prepend(inst).Labels[0], inst); // a valid DNS label
    }

    [Fact]
    public void Rename_AppendsCounter_KeepsMarkerLast_And63Octets()
    {
        Assert.Equal("Front Door (2)", OspInstanceName.Rename("Front Door", 2));
        string trunc = OspInstanceName.FromDisplayName(new string('x', 100));
        string r = OspInstanceName.Rename(trunc, 12);
        Assert.EndsWith(" (12)\0", r, StringComparison.Ordinal);
        Assert.True(Encoding.UTF8.GetByteCount(r) <= 63);
        string full63 = new string('y', 63);
        string r2 = OspInstanceName.Rename(full63, 2);
        Assert.EndsWith(" (2)\0", r2, StringComparison.Ordinal); // had to be shortened: now marked truncated
        Assert.True(Encoding.UTF8.GetByteCount(r2) <= 63);
    }

    [Theory]
    [InlineData(0ul, "00")]
    [InlineData(37ul, "25")]
    [InlineData(63ul, "3F")]
    [InlineData(64ul, "4040")]
    [InlineData(15293ul, "7BBD")]
    [InlineData(494878333ul, "9D7F3E7D")]
    public void Txt_MvIsQuicVarintBytes(ulong mv, string hex)
    {
        var p = new OspTxt(Fp, mv, "abcdEFGH", "AAECAwQ").ToProperties();
        Assert.True(p.TryGetValue("mv", out var bytes));
        Assert.Equal(hex, Convert.ToHexString(bytes!));
        var back = OspTxt.TryParse(p, out string? error);
        Assert.Null(error);
        Assert.Equal(mv, back!.MetadataVersion);
    }

    [Theory]
    [InlineData(null, "00", "abcdEFGH", "missing fp")]
    [InlineData("abc", "00", "abcdEFGH", "fp is not")]
    [InlineData("Vx7tqgvGG14ZOBpwAg//cXdDCZoyY5tE9i39W7Tilp4", "00", "abcdEFGH", "fp is not")]  // 43 chars
    [InlineData(Fp, null, "abcdEFGH", "missing mv")]
    [InlineData(Fp, "40", "abcdEFGH", "mv is not")]     // 2-byte varint cut short
    [InlineData(Fp, "0000", "abcdEFGH", "mv is not")]   // trailing byte
    [InlineData(Fp, "00", null, "missing at")]
    [InlineData(Fp, "00", "abc", "at must be")]         // too short
    [InlineData(Fp, "00", "abc-defgh", "at must be")]   // '-' not in charset
    public void Txt_Invalid_IsRejectedWithReason(string? fp, string? mvHex, string? at, string reason)
    {
        var p = new TxtProperties();
        if (fp is not null) p.Set("fp", fp);
        if (mvHex is not null) p.Set("mv", Convert.FromHexString(mvHex));
        if (at is not null) p.Set("at", at);
        Assert.Null(OspTxt.TryParse(p, out string? error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Txt_SnIsOptionalButMustBeBase64Url()
    {
        var p = new TxtProperties().Set("fp", Fp).Set("mv", [0]).Set("at", "abcdEFGH");
        Assert.Null(OspTxt.TryParse(p, out _)!.SerialNumber);
        p.Set("sn", "JET-igBSxwdWe5RbsM0SEQAAAAA");
        Assert.Equal("JET-igBSxwdWe5RbsM0SEQAAAAA", OspTxt.TryParse(p, out _)!.SerialNumber);
        p.Set("sn", "abc=");
        Assert.Null(OspTxt.TryParse(p, out _));
        p.Set("sn", "a+b/");
        Assert.Null(OspTxt.TryParse(p, out _));
    }

    [Fact]
    public void MetadataVersion_BumpsOnlyWhenMetadataChanges()
    {
        string dir = Directory.CreateTempSubdirectory("ospb-mv-").FullName;
        try
        {
            Assert.Equal(0ul, OspMetadataVersion.LoadOrBump(dir, "TV", "OspBridge"));
            Assert.Equal(0ul, OspMetadataVersion.LoadOrBump(dir, "TV", "OspBridge"));
            Assert.Equal(1ul, OspMetadataVersion.LoadOrBump(dir, "Kitchen TV", "OspBridge"));
            Assert.Equal(1ul, OspMetadataVersion.LoadOrBump(dir, "Kitchen TV", "OspBridge"));
            Assert.Equal(2ul, OspMetadataVersion.LoadOrBump(dir, "TV", "OspBridge"));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
