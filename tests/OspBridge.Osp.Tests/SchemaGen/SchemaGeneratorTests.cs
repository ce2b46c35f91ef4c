using System.Collections.Immutable;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Microsoft.CodeAnalysis.Text;
using OspBridge.Osp.SchemaGen;

namespace OspBridge.Osp.Tests.SchemaGen;

public sealed class SchemaGeneratorTests
{
    private static string Schema => File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "osp-messages.cddl"));

    [Fact]
    public void The_project_schema_compiles_without_errors_and_deterministically()
    {
        var first = SchemaGenerator.Generate("osp-messages.cddl", Schema);
        var second = SchemaGenerator.Generate("osp-messages.cddl", Schema);
        Assert.Empty(first.Errors);
        Assert.True(first.Equals(second));
        Assert.Contains(first.Sources, s => s.Key == "LanSignalingOffer.g.cs");
        Assert.Contains(first.Sources, s => s.Key == "OspMessageRegistry.g.cs");
        string capability = first.Sources.Single(s => s.Key == "AgentCapability.g.cs").Value;
        Assert.Contains("DataChannels = 1100,", capability, StringComparison.Ordinal); // "/=" extension merged
        Assert.Contains("LanSignaling = 1300,", capability, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("; type key 1\na = {\n 0: uint ; x\n}\n; type key 1\nb = {\n 0: uint ; y\n}\n", "Type key 1 is used by both")]
    [InlineData("a = { 0: uint }\n", "needs its name as a trailing comment")]
    [InlineData("a = {\n 0: nope ; x\n}\n", "Unknown type 'nope'")]
    [InlineData("a = [ ? x: uint  y: uint ]\n", "Only the last member of array")]
    [InlineData("a = {\n 0: uint ; x\n", "Missing '}'")]
    [InlineData("a = {\n 0: uint ; x\n 0: text ; y\n}\n", "Key 0 appears twice")]
    [InlineData("a = {\n 0: uint / text ; x\n}\n", "type choices are supported")]
    [InlineData("e = &( a: 1 )\ne /= &( b: 1 )\n", "repeats a member name or value")]
    [InlineData("a = {\n 64: uint ; x\n}\n", "Map keys above 63")]
    [InlineData("a = { 0: bytes .regexp ; x }\n", "Only 'bytes .size' is supported")]
    [InlineData("a = {\n 0: &b ; x\n}\nb = {\n 0: uint ; y\n}\n", "does not name an enumeration")]
    public void Schema_errors_are_reported_with_a_reason(string schema, string expected)
    {
        var output = SchemaGenerator.Generate("bad.cddl", schema);
        Assert.Contains(output.Errors, e => e.Message.Contains(expected, StringComparison.Ordinal));
        Assert.Empty(output.Sources);
    }

    [Fact]
    public void Roslyn_driver_reports_schema_errors_as_OSPGEN001_at_the_line()
    {
        var compilation = CSharpCompilation.Create("t", [], [MetadataReference.CreateFromFile(typeof(object).Assembly.Location)]);
        GeneratorDriver driver = CSharpGeneratorDriver.Create(
            generators: [new SchemaGenerator().AsSourceGenerator()],
            additionalTexts: [new InMemoryText("/x/bad.cddl", "ok = { 0: uint ; a }\n\nbad = { 0: missing ; b }\n")]);
        driver = driver.RunGenerators(compilation);
        ImmutableArray<Diagnostic> diagnostics = driver.GetRunResult().Diagnostics;
        Diagnostic d = Assert.Single(diagnostics);
        Assert.Equal("OSPGEN001", d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Equal(2, d.Location.GetLineSpan().StartLinePosition.Line);
        Assert.Empty(driver.GetRunResult().GeneratedTrees);
    }

    [Fact]
    public void Roslyn_driver_generates_one_file_per_type_without_syntax_errors()
    {
        var driver = CSharpGeneratorDriver.Create(
            generators: [new SchemaGenerator().AsSourceGenerator()],
            additionalTexts: [new InMemoryText("/x/osp-messages.cddl", Schema)]);
        GeneratorDriverRunResult result = driver.RunGenerators(CSharpCompilation.Create("t")).GetRunResult();
        Assert.Empty(result.Diagnostics);
        Assert.True(result.GeneratedTrees.Length > 100);
        foreach (SyntaxTree tree in result.GeneratedTrees)
        {
            Assert.DoesNotContain(tree.GetDiagnostics(), x => x.Severity == DiagnosticSeverity.Error);
        }
    }

    private sealed class InMemoryText(string path, string text) : AdditionalText
    {
        public override string Path => path;

        public override SourceText GetText(CancellationToken cancellationToken = default) => SourceText.From(text);
    }
}
