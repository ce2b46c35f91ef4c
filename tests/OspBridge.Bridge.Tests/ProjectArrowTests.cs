using System.Reflection;

namespace OspBridge.Bridge.Tests;

/// <summary>
/// The project arrows of ARCHITECTURE.md / docs/architecture.md, checked on the built assemblies: each library
/// references (in its metadata: what its code really uses) only the layers below it that the table allows.
/// </summary>
public class ProjectArrowTests
{
    public static TheoryData<string, string[]> Arrows => new()
    {
        { "OspBridge.Net", [] },
        { "OspBridge.Crypto", [] },
        { "OspBridge.Quic", ["OspBridge.Crypto", "OspBridge.Net"] },
        { "OspBridge.WebRtc", ["OspBridge.Crypto", "OspBridge.Net"] },
        { "OspBridge.Osp", ["OspBridge.Quic", "OspBridge.Crypto", "OspBridge.Net"] },
        { "OspBridge.PeerFetch", ["OspBridge.Net"] },
        { "OspBridge.Media", ["OspBridge.WebRtc", "OspBridge.Net"] },
    };

    [Theory]
    [MemberData(nameof(Arrows))]
    public void Library_ReferencesOnlyTheLayersItsArrowsAllow(string library, string[] allowed)
    {
        var assembly = Assembly.Load(new AssemblyName(library));
        var ours = assembly.GetReferencedAssemblies()
            .Select(a => a.Name!)
            .Where(n => n.StartsWith("OspBridge.", StringComparison.Ordinal) || n == "ospbridge")
            .ToList();
        var wrong = ours.Except(allowed).ToList();
        Assert.True(wrong.Count == 0, $"{library} references {string.Join(", ", wrong)}; its arrows allow only [{string.Join(", ", allowed)}]");
    }
}
