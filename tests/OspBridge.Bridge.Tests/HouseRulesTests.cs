using System.Reflection;
using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace OspBridge.Bridge.Tests;

/// <summary>
/// Two of issue 8's house rules, checked over the public surface of our seven libraries (the Bridge references them
/// all): no public type repeats the name of a public type of the shared framework — except the QUIC facade, whose
/// <c>OspBridge.Quic</c> types mirror <c>System.Net.Quic</c> one to one on purpose (docs/architecture.md "BCL names") —
/// and every public method that returns a task takes a <see cref="CancellationToken"/> (overrides of framework
/// methods and <c>DisposeAsync</c> aside).
/// </summary>
public sealed class HouseRulesTests
{
    private static readonly Assembly[] Libraries =
    [
        typeof(OspBridge.Net.Core.IProtocolCore).Assembly,
        typeof(OspBridge.Crypto.CryptoException).Assembly,
        typeof(OspBridge.Quic.QuicConnection).Assembly,
        typeof(OspBridge.WebRtc.RTCPeerConnection).Assembly,
        typeof(OspBridge.Osp.OspException).Assembly,
        typeof(OspBridge.PeerFetch.PeerFetchException).Assembly,
        typeof(OspBridge.Media.MediaException).Assembly,
    ];

    /// <summary>Public top-level type names of the shared framework's assemblies (name → namespaces), read as metadata.</summary>
    private static Dictionary<string, HashSet<string>> FrameworkTypeNames()
    {
        var names = new Dictionary<string, HashSet<string>>(StringComparer.Ordinal);
        string dir = Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        foreach (string dll in Directory.EnumerateFiles(dir, "*.dll"))
        {
            using var stream = File.OpenRead(dll);
            using var pe = new PEReader(stream);
            if (!pe.HasMetadata) continue;
            var md = pe.GetMetadataReader();
            foreach (var handle in md.TypeDefinitions)
            {
                var t = md.GetTypeDefinition(handle);
                if ((t.Attributes & TypeAttributes.VisibilityMask) != TypeAttributes.Public) continue; // top-level public only
                string ns = md.GetString(t.Namespace);
                if (!ns.StartsWith("System", StringComparison.Ordinal) && !ns.StartsWith("Microsoft", StringComparison.Ordinal)) continue;
                string name = md.GetString(t.Name);
                if (!names.TryGetValue(name, out var set)) names[name] = set = new HashSet<string>(StringComparer.Ordinal);
                set.Add(ns);
            }
        }
        return names;
    }

    [Fact]
    public void No_public_type_repeats_a_framework_type_name_except_the_System_Net_Quic_mirror()
    {
        var framework = FrameworkTypeNames();
        Assert.True(framework.Count > 1000, $"only {framework.Count} framework type names read: the scan did not find the shared framework");
        var clashes = new List<string>();
        var mirrored = new List<string>();
        foreach (var type in Libraries.SelectMany(a => a.GetExportedTypes()).Where(t => !t.IsNested))
        {
            if (!framework.TryGetValue(type.Name, out var namespaces)) continue;
            if (type.Namespace == "OspBridge.Quic" && namespaces.Contains("System.Net.Quic")) mirrored.Add(type.Name);
            else clashes.Add($"{type.FullName} (framework: {string.Join(", ", namespaces.Order(StringComparer.Ordinal))})");
        }
        Assert.True(clashes.Count == 0, "public types named like framework types: " + string.Join("; ", clashes));
        Assert.Contains("QuicConnection", mirrored); // the scan does see the deliberate mirror
    }

    [Fact]
    public void Every_public_method_returning_a_task_takes_a_cancellation_token()
    {
        var missing = new List<string>();
        int checkedMethods = 0;
        foreach (var type in Libraries.SelectMany(a => a.GetExportedTypes()))
        {
            foreach (var m in type.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            {
                if (m.IsSpecialName || m.Name == "DisposeAsync" || !ReturnsTask(m.ReturnType)) continue;
                if (type.IsSubclassOf(typeof(Delegate)) && m.Name is "BeginInvoke" or "EndInvoke") continue; // the compiler's APM pair; Invoke is checked
                if (m.GetBaseDefinition().DeclaringType?.Assembly is { } origin && !Libraries.Contains(origin)) continue; // a framework override
                if (ImplementsFrameworkInterface(type, m)) continue;
                checkedMethods++;
                if (!m.GetParameters().Any(p => p.ParameterType == typeof(CancellationToken)))
                    missing.Add($"{type.FullName}.{m.Name}({string.Join(", ", m.GetParameters().Select(p => p.ParameterType.Name))})");
            }
        }
        Assert.True(checkedMethods > 50, $"only {checkedMethods} task-returning public methods found: the scan is broken");
        Assert.True(missing.Count == 0, "public async methods without a CancellationToken: " + string.Join("; ", missing));
    }

    private static bool ReturnsTask(Type t)
    {
        if (t == typeof(Task) || t == typeof(ValueTask)) return true;
        if (!t.IsGenericType) return false;
        var d = t.GetGenericTypeDefinition();
        return d == typeof(Task<>) || d == typeof(ValueTask<>) || d == typeof(IAsyncEnumerable<>);
    }

    private static bool ImplementsFrameworkInterface(Type type, MethodInfo method)
    {
        if (type.IsInterface) return false;
        foreach (var itf in type.GetInterfaces().Where(i => !Libraries.Contains(i.Assembly)))
        {
            var map = type.GetInterfaceMap(itf);
            if (map.TargetMethods.Contains(method)) return true;
        }
        return false;
    }
}
